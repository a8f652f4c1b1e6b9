"""Web adapter: the aiohttp app with the REST API, delivery-report endpoints and the pages."""
