import socket

from betfuz_common.cli import _listen


def test_a_listening_socket_names_tcp_so_asyncio_turns_nagle_off_on_its_connections() -> None:
    # asyncio sets TCP_NODELAY on an accepted connection only when the listening socket's
    # protocol is IPPROTO_TCP; without it every keep-alive answer waits for the delayed ACK.
    sock = _listen("127.0.0.1", 0)
    try:
        assert (sock.type, sock.proto) == (socket.SOCK_STREAM, socket.IPPROTO_TCP)
    finally:
        sock.close()
