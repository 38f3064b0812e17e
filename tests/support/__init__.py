"""Helpers the tests share (importable as ``support`` once tests/conftest.py has run): small real
networks with randomised BatchNorm, error measures, and the one synthetic scan as torch tensors."""
