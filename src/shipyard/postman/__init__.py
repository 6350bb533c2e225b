"""postman-publish: OpenAPI spec -> validated -> Postman collection v2.1, published with a stable identity."""
