"""Schemathesis hooks of the fuzz test (test/fuzz.test.ts, SCHEMATHESIS_HOOKS).

A generated Idempotency-Key repeats across requests (the document's example, or the short strings
hypothesis favours), and another request under a key already used is 422 by contract: a fuzzer cannot
know that. So each generated valid key is made unique, keeping its generated form; a malformed one is
left as it is, for the 400 it must get.
"""
import re
import uuid

import schemathesis

HEADER = "Idempotency-Key"
BARE = re.compile(r"^[\x21\x23-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")
QUOTED = re.compile(r'^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"$')


@schemathesis.hook
def before_call(context, case, kwargs):
    """Every request, whatever phase made it (the examples' and coverage's take no map_ hooks).

    Only a valid case's key: an edited case is judged anew, and a negative one (made to lack its
    Authorization, say) that then validated would be sent whole. A negative case may repeat a key;
    its answer is a 4xx either way.
    """
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    headers = case.headers or {}
    key = headers.get(HEADER)
    if not isinstance(key, str):
        return
    suffix = "-" + uuid.uuid4().hex
    if BARE.match(key):
        headers[HEADER] = key[: 255 - len(suffix)] + suffix
    elif QUOTED.match(key) and len(key) + len(suffix) <= 255:
        headers[HEADER] = key[:-1] + suffix + '"'
