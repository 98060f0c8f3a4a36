"""Closing an asyncio stream pair, shared by the Modbus TCP and MQTT clients.

A peer that vanished can make close() or wait_closed() raise; a client
dropping its connection must never fail on that, it reconnects later.
"""


async def close_quietly(writer):
    if writer is None:
        return
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:
        pass
