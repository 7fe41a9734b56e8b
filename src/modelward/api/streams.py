"""Request bodies spooled to a temporary file, with the size limit enforced as they arrive."""

from __future__ import annotations

import tempfile
from typing import BinaryIO

from fastapi import Request

from modelward.errors import PayloadTooLarge

SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024


class RequestBodyReader:
    @staticmethod
    async def read(request: Request) -> BinaryIO:
        """The whole body as a rewound file object; refuses more than the server's limit."""
        limit: int = request.app.state.settings.max_request_bytes
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                spool.close()
                raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        return spool  # type: ignore[return-value]
