"""The edge hub runtime: ingest, admission, inbox, market clock and service, blocks, status.

Pure decisions (admission, interval arithmetic, block triggers) live in small
modules without I/O; the modules that touch MQTT, SQLite, Modbus and HTTP
wrap them, and ``service`` wires everything together.
"""
