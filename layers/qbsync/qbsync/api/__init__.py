"""HTTP concerns shared by the API handlers: the resolver factory and the route table."""
