"""The Python side of procvisor-wire's interop tests.

Usage: peer.py MODE ADDRESS KEY

  client         connect to ADDRESS, authenticate with KEY (3.12+ protocol), exchange messages
  listener       listen on ADDRESS, print READY, accept one client, exchange messages
  legacy-client  connect with Python's own Client(authkey=...); on 3.11 this is the MD5 protocol

On Python < 3.12 the modern handshake is performed by hand on top of the Connection (its
framing is the same in every version), following the protocol description in CPython's
multiprocessing/connection.py. KEY "-" means no authentication.
"""
import hmac
import os
import sys
from multiprocessing.connection import Client, Listener

CHALLENGE, WELCOME, FAILURE, PREFIX = b"#CHALLENGE#", b"#WELCOME#", b"#FAILURE#", b"{sha256}"
NATIVE = sys.version_info >= (3, 12)


def answer(conn, key):
    message = conn.recv_bytes(256)
    assert message.startswith(CHALLENGE + PREFIX), message
    message = message[len(CHALLENGE):]
    conn.send_bytes(PREFIX + hmac.new(key, message, "sha256").digest())
    if conn.recv_bytes(256) != WELCOME:
        sys.exit("python: digest sent was rejected")


def deliver(conn, key):
    message = PREFIX + os.urandom(40)
    conn.send_bytes(CHALLENGE + message)
    response = conn.recv_bytes(256)
    expected = hmac.new(key, message, "sha256").digest()
    ok = response.startswith(PREFIX) and hmac.compare_digest(response[len(PREFIX):], expected)
    conn.send_bytes(WELCOME if ok else FAILURE)
    if not ok:
        sys.exit("python: digest received was wrong")


def exchange(conn):
    conn.send_bytes(b"hello from python")
    conn.send_bytes(bytes(range(256)) * 4096)  # 1 MiB
    print(conn.recv_bytes().decode(), flush=True)
    print(len(conn.recv_bytes()), flush=True)


def main():
    mode, address, key = sys.argv[1], sys.argv[2], sys.argv[3]
    key = None if key == "-" else key.encode()
    if mode == "client":
        if NATIVE or key is None:
            conn = Client(address, authkey=key)
        else:
            conn = Client(address)
            answer(conn, key)
            deliver(conn, key)
        exchange(conn)
    elif mode == "listener":
        with Listener(address, authkey=key if NATIVE else None) as listener:
            print("READY", flush=True)
            conn = listener.accept()
            if key is not None and not NATIVE:
                deliver(conn, key)
                answer(conn, key)
            exchange(conn)
    elif mode == "legacy-client":
        try:
            Client(address, authkey=key)
        except Exception as e:  # the Rust side refuses and closes
            print("refused:", type(e).__name__, flush=True)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
