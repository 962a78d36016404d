"""Every list is paged: limit/offset in, items and next_offset out."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)
MAX_LIMIT = 100


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PageParams:
    """Query parameters of a paged list."""
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


def make_page(
    rows: list,
    params: PageParams,
    model: type[T],
    *,
    page_model: type[Page] | None = None,
    **fields: Any,
) -> Page[T]:
    """Build a page from rows fetched with limit+1 (the extra row says there is more).

    `page_model` is a subclass of Page[model] with more fields (`fields` fills them).
    """
    more = len(rows) > params.limit
    items = [model.model_validate(r) for r in rows[: params.limit]]
    return (page_model or Page[model])(  # type: ignore[valid-type]
        items=items,
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if more else None,
        **fields,
    )
