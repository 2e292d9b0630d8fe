"""The address book (#15.8): labels for addresses, used in the account's notifications.

`PUT` because the address is the key: setting a label twice is the same as setting it once, and
the answer says which happened (201 a new entry, 200 a rename).
"""

from __future__ import annotations

from litestar import Response, delete, get, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from api.deps import AddressBookDep, CallerDep, PathAddress
from api.pagination import AddressLabelPage
from api.problems import problems
from api.schemas import AddressLabelOut, AddressLabelPut

TAGS = ["address book"]


@get("/v1/address-book", tags=TAGS, responses=problems(401))
async def list_address_book(caller: CallerDep, address_book: AddressBookDep) -> AddressLabelPage:
    """Every label of the account, ordered by address, in one page (at most 500 labels)."""
    entries = address_book.list(caller.account_id)
    return AddressLabelPage(items=[AddressLabelOut.of(e) for e in entries], next_cursor=None)


@put(
    "/v1/address-book/{address:str}",
    tags=TAGS,
    status_code=200,
    responses={
        201: ResponseSpec(AddressLabelOut, description="Created: the address had no label", generate_examples=False),
        **problems(401, 403, 422),
    },
)
async def put_address_label(
    address: PathAddress, data: JSONBody[AddressLabelPut], caller: CallerDep, address_book: AddressBookDep
) -> Response[AddressLabelOut]:
    """Label an address of a configured chain (`{"label": "Treasury"}`): 201 when new, 200 when renamed.

    Notifications made from then on name it ("1.5 ATOM received by Treasury"); earlier ones keep
    the words they were sent with."""
    entry, created = await address_book.set(caller.account_id, address, data.label)
    return Response(AddressLabelOut.of(entry), status_code=201 if created else 200)


@delete("/v1/address-book/{address:str}", tags=TAGS, status_code=204, responses=problems(401, 404))
async def delete_address_label(address: PathAddress, caller: CallerDep, address_book: AddressBookDep) -> None:
    """Remove the label (404 if the address has none)."""
    await address_book.remove(caller.account_id, address)


HANDLERS = [list_address_book, put_address_label, delete_address_label]
