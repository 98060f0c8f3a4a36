"""What a person sees in a browser: charts and page shells shared by the edge and the hub.

Server-side SVG and inline CSS only: the pages are read on laptops at
substations with no internet, and on the board, which must not spend its
memory on a JavaScript charting bundle.
"""
