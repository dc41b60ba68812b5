"""RPC errors as the server raises them inside method handlers."""

from __future__ import annotations


class RpcFail(Exception):
    """Answer the request with rpc_error(code, message)."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def bad_request(message: str) -> RpcFail:
    return RpcFail(400, message)


def unauthorized(message: str = "AUTH_KEY_UNREGISTERED") -> RpcFail:
    return RpcFail(401, message)


def see_other(message: str) -> RpcFail:
    return RpcFail(303, message)


def flood_wait(seconds: int) -> RpcFail:
    return RpcFail(420, f"FLOOD_WAIT_{seconds}")
