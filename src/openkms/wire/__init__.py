"""The Alibaba RPC protocol: request decoding, signatures V1/V3/V4 (pure functions), rendering of
answers and the error catalogue. Imports nothing else of openkms."""

__all__ = ["errors", "render", "request", "signing"]
