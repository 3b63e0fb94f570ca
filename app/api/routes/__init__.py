"""The API's routers, one module a noun; each is made for one service port."""
