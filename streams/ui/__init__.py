"""The protocol page (``bridge ui``): what the bridge did and does, on one page.

``model`` is the snapshot the page shows, built by the pure functions of ``build`` from what
``sources`` and the stateful readers (``activity``, ``letters``, ``rates``) gathered;
``render`` and ``plots`` turn it into HTML and SVG; ``app`` serves it with Starlette.
"""
