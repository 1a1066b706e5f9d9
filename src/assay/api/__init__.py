"""The HTTP API's wire contract: request and response schemas (pydantic), shared by the server that
answers and the remote client that asks. Imports only the pure modules: no FastAPI, no SQLAlchemy."""
