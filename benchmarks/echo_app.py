"""A bare FastAPI WebSocket echo (no book, no metrics): the bench's reference for what the
framework alone costs. Run by bench_server.py as ``uvicorn echo_app:app`` in its own process."""

from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.websocket("/ws")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        msg = await socket.receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("bytes") is not None:
            await socket.send_bytes(msg["bytes"])
        else:
            await socket.send_text(msg["text"])
