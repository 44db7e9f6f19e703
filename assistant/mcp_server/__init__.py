"""MCP (the Model Context Protocol) for agents: the tools (tools.py) over the container's services, served by
the official SDK at /mcp on the API's server (http.py) and by `assistant mcp` over stdio (stdio.py). Named
`mcp_server` so as not to shadow the SDK's `mcp` package."""
