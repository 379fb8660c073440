"""Certificate identity: what a client certificate says (``assertion``), how mapping rules turn
that into a user, a domain and groups (``mapping``, ``mapping_store``, ``mapped_login``), and
the ``/v3/OS-FEDERATION/mappings`` API that manages the rules (``mappings_api``).
"""
