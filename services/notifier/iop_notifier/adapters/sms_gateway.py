"""SMS through a generic HTTPS webhook gateway: POST {"to", "body"} with a bearer token.

2xx: accepted. 429 and 5xx: busy or down, retry. Other 4xx: the gateway refuses this message
(a bad number, say), retrying cannot help. A timeout after the request went out is ambiguous.
"""

import httpx

from iop_notifier.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)


class WebhookSmsGateway:
    def __init__(
        self,
        url: str,
        token: str | None,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, to: str, body: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = await self._client.post(
                self.url, json={"to": to, "body": body}, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise TransientDeliveryError("sms_gateway_unreachable") from error
        except httpx.TimeoutException as error:
            raise AmbiguousDeliveryError("sms_gateway_timeout") from error
        except httpx.HTTPError as error:
            raise TransientDeliveryError("sms_gateway_error") from error
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise TransientDeliveryError(f"sms_gateway_{status}")
        raise PermanentDeliveryError(f"sms_gateway_{status}")
