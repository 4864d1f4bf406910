def rule(client, scope, audience, context, cb):
    access_token = {}
    access_token["https://foo.com/claim"] = "bar"
    access_token["scope"] = scope
    access_token["scope"].append("extra")
    cb(None, access_token)
