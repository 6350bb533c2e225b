"""Inventory service: a small FastAPI app used as Shipyard's Python example.

Importable without environment variables or network access, so `app.openapi()`
can be produced at build time (`fastapi-app: app.main:app` in postman-publish).
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query
from pydantic import BaseModel, Field

app = FastAPI(
    title="Inventory Service",
    version=os.environ.get("APP_VERSION", "1.0.0"),
    description="Items in stock, by warehouse. Shipyard's Python example service.",
)


class Category(str, Enum):
    tools = "tools"
    parts = "parts"
    supplies = "supplies"


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["Torque wrench"])
    category: Category = Category.tools
    quantity: int = Field(ge=0, examples=[12])
    price_cents: int = Field(ge=0, examples=[4999])


class Item(ItemIn):
    id: int = Field(examples=[1])


class ItemPage(BaseModel):
    items: list[Item]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: str = "ok"
    version: str


_ITEMS: dict[int, Item] = {
    1: Item(id=1, name="Torque wrench", category=Category.tools, quantity=12, price_cents=4999),
    2: Item(id=2, name="M8 bolt", category=Category.parts, quantity=900, price_cents=15),
}


@app.get("/healthz", response_model=Health, tags=["ops"])
def health() -> Health:
    """Liveness probe."""
    return Health(version=app.version)


@app.get("/items", response_model=ItemPage, tags=["items"])
def list_items(
    category: Annotated[Category | None, Query(description="Only items of this category")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ItemPage:
    """List items, optionally filtered by category."""
    found = [i for i in _ITEMS.values() if category is None or i.category == category]
    return ItemPage(items=found[offset : offset + limit], total=len(found), limit=limit, offset=offset)


@app.get("/items/{item_id}", response_model=Item, tags=["items"])
def get_item(item_id: Annotated[int, Path(ge=1, description="Item id")]) -> Item:
    """Fetch one item."""
    item = _ITEMS.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="item not found")
    return item


@app.post("/items", response_model=Item, status_code=201, tags=["items"])
def create_item(body: ItemIn) -> Item:
    """Add an item to the inventory."""
    item = Item(id=max(_ITEMS, default=0) + 1, **body.model_dump())
    _ITEMS[item.id] = item
    return item


@app.delete("/items/{item_id}", status_code=204, tags=["items"])
def delete_item(item_id: Annotated[int, Path(ge=1)]) -> None:
    """Remove an item."""
    if _ITEMS.pop(item_id, None) is None:
        raise HTTPException(status_code=404, detail="item not found")
