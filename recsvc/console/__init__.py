"""``recsvc console``: the server-rendered web console for marketing and operations.

It reads what the service serves (the pointer, manifest and segment pages of the DynamoDB
generation, through the service's own store code), the per-generation summaries the job
writes, the service's Prometheus metrics, and asks the service for recommendations.

    settings.py     ConsoleSettings (RECSVC_CONSOLE_*): one object per console process
    app.py          the Starlette app: routes, session cookie, error pages, lifespan
    serve.py        uvicorn on its own port (``recsvc console``)
    auth.py         sign-in tokens -> roles (constant time), session, CSRF tokens
    masking.py      masked e-mail addresses (j***@e***.com)
    middleware.py   Server-Timing, security headers, access log
    context.py      what the pages use, opened and closed once
    exporting.py    exports in the background, recorded in the history
    readers/        generation + summaries, records (exports, audit), metrics, Recommend
    pages/          one module per page; templates/ and static/ (vendor/ is built by make)

Light on import: the web stack (the ``console`` extra) loads only when the app is built.
"""
