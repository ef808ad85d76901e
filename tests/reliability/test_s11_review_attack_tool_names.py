"""Two bound tools of one method, on two objects, offered under one name.

Session 11 made two different tools under one name a ConfigurationError, telling them
apart by their definition. A method tool bound to two objects shares its definition,
so ``[paris.stock, lyon.stock]`` passed, and whichever came first was run: the model's
call on the other object's data was answered by the wrong object.
"""

from __future__ import annotations

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError


class Shop:
    """A shop whose stock is a tool."""

    def __init__(self, city: str) -> None:
        self.city = city

    @lg.tool
    def stock(self, item: str) -> str:
        """How many of an item the shop has."""
        return f"{self.city}: 3 {item}"


def test_one_method_bound_to_two_objects_under_one_name_is_refused() -> None:
    """call_tool raises ConfigurationError naming the tool, and runs neither."""
    paris, lyon = Shop("paris"), Shop("lyon")
    with pytest.raises(ConfigurationError, match="two tools named 'stock'"):
        lg.call_tool([paris.stock, lyon.stock], "stock", '{"item": "pens"}')


def test_one_bound_method_offered_twice_is_one_tool() -> None:
    """The same object's tool listed twice (two bindings of it) still runs."""
    paris = Shop("paris")
    assert lg.call_tool([paris.stock, paris.stock], "stock", '{"item": "pens"}') == (
        "paris: 3 pens"
    )
