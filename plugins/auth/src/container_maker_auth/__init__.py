"""Container Maker's caller plugins: who is calling, and what Kubernetes lets them do.

Each is enabled by naming it in ``settings.authenticators`` (``--authenticator``):

- ``kubernetes-token`` (:mod:`.kubernetes_token`): ``authorization: Bearer <token>``, checked
  with a TokenReview; its rights come from ``subject-access-review``.
- ``client-certificate`` (:mod:`.client_certificate`): the verified certificate of mutual TLS.
- ``api-key`` (:mod:`.api_keys`): ``x-api-key: cmk_<id>_<secret>``, checked against Argon2id
  hashes read from a file or a Secret, each key bound to a tenant and a set of verbs.
- ``subject-access-review`` (:mod:`.access_review`): authorizes Kubernetes identities with a
  SubjectAccessReview on ``containers.container-maker.io``, so their rights are RBAC rules.
"""
