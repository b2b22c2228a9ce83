"""A TCP proxy that delays every byte by a fixed time in each direction,
without limiting throughput: what a registry across a continent looks
like to a client, where round trips, not CPU, decide. Runs in its own
thread; `LatencyProxy(upstream_port, delay_s).port` is where to connect."""
import asyncio
import threading
import time

from local_registry import free_port as _free_port


class LatencyProxy:
    def __init__(self, upstream_port, delay):
        self.upstream_port = upstream_port
        self.delay = delay
        self.port = _free_port()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()
        self.host = f"127.0.0.1:{self.port}"

    def _serve(self, ready):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        ready.set()
        loop.run_until_complete(server.serve_forever())

    async def _pipe(self, reader, writer):
        # Each chunk is stamped when read and written `delay` later: bytes
        # arrive late, but as many arrive per second as without the proxy.
        queue = asyncio.Queue()

        async def read():
            while True:
                data = await reader.read(256 * 1024)
                await queue.put((time.monotonic() + self.delay, data))
                if not data:
                    return

        async def write():
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    try:
                        writer.write_eof()
                    except OSError:
                        pass
                    return
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(read(), write())
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, up_writer), self._pipe(up_reader, client_writer))
