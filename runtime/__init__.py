"""The gradc runtime: loads generated source and provides the helpers it calls."""
