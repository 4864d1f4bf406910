"""The OAuth2 token server: ``POST /oauth/token`` mints RS256 access tokens and runs the tenant's
password-exchange or client-credentials-exchange hook (in-process, or on a remote webtask server)
to add claims and adjust scopes. A tenant is a container; its APIs, clients and users live in the
same ``Store`` as its webtasks.
"""
