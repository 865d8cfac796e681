"""Models a Flyte 2 program imports from a module beside it (both travel to workers by value)."""

from dataclasses import dataclass

from pydantic import BaseModel


class Product(BaseModel):
    name: str
    price: float


@dataclass
class Box:
    label: str
    size: int = 3
