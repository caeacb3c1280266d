"""The Streamlit side of GATE Studio: shared resources (``state``), figures (``charts``) and
page fragments (``views``). Pages in ``pages/`` are short scripts over these and ``gate_core``.
"""
