"""The account page (``/main/account``): who a browser's client certificate makes its holder."""
