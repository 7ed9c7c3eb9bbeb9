"""The sets `dyno verify` runs: written by us for dyno, no dataset downloads.

- LOSSLESS_PROMPTS: code, prose and JSON prompts for the greedy exact-match
  check (speculation must not change greedy output). Code and JSON prompts
  mostly ask the model to reproduce and edit text in the prompt, which is what
  prompt-lookup (ngram) and MTP drafters accept most of.
- MATH_PROBLEMS: grade-school word problems with one integer or decimal answer
  each (answers double-checked by computation when the set was written).
- TOOL_TASKS: one request each, with two tools offered, the function the
  request calls for, and (through the tool) the JSON schema of its arguments.

Item ids are stable: a stored verify run records the ids and expected values
it was run with, so changing this file never changes an old report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dyno.workloads.prompts import CODE_PROMPTS, JSON_PROMPTS, PROSE_PROMPTS, TIME_TOOL, WEATHER_TOOL


@dataclass(frozen=True)
class LosslessPrompt:
    id: str
    content_type: str  # code | prose | json
    prompt: str


@dataclass(frozen=True)
class MathProblem:
    id: str
    question: str
    answer: str  # a decimal number as text: "7", "11.75", "-3"


@dataclass(frozen=True)
class ToolTask:
    id: str
    prompt: str
    tools: tuple[dict[str, Any], ...]
    expected_function: str

    @property
    def arguments_schema(self) -> dict[str, Any]:
        """The JSON schema the expected function's arguments must satisfy."""
        for t in self.tools:
            if t["function"]["name"] == self.expected_function:
                schema: dict[str, Any] = t["function"]["parameters"]
                return schema
        raise KeyError(f"{self.id}: no tool named {self.expected_function!r}")


_MORE_CODE = (
    "Add a docstring to this function and return the whole function unchanged otherwise:\n\n"
    "def clamp(value, low, high):\n    if value < low:\n        return low\n"
    "    if value > high:\n        return high\n    return value\n",
    "Rename the variable `tmp` to `total` in this code and return all of it:\n\n"
    "def sum_squares(xs):\n    tmp = 0\n    for x in xs:\n        tmp += x * x\n    return tmp\n",
    "Convert this Python loop into a list comprehension and show the result:\n\n"
    "evens = []\nfor n in range(20):\n    if n % 2 == 0:\n        evens.append(n * 3)\n",
    "Write a Python function `is_palindrome(s)` that ignores case and spaces, with three asserts as tests.",
    "Write a bash script that counts the lines of every .py file in the current folder and prints the total.",
    "Add error handling to this function so a missing file returns None, and return the whole function:\n\n"
    "def read_config(path):\n    with open(path) as f:\n        return f.read()\n",
    "Write a Go function `Reverse(s string) string` that reverses a string rune by rune.",
    "Write a Python dataclass `Point` with x and y floats and a method `distance_to(other)`.",
    "Translate this Python function to Rust:\n\n"
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
)

_MORE_PROSE = (
    "Explain in a paragraph why bread goes stale.",
    "Write a short poem about a cat watching rain through a window.",
    "Describe how a bicycle's gears make climbing a hill easier.",
    "Write the opening paragraph of a mystery novel set in a snowed-in mountain hotel.",
    "Give three tips for someone learning to cook at home, with a sentence on each.",
    "Explain what a library card lets you do, as if to a new neighbour.",
    "Write a thank-you note to a teacher who helped you love reading.",
    "Describe the life cycle of a butterfly in simple words.",
)

_MORE_JSON = (
    "Convert this to JSON with keys title, author, year, genres (a list):\n"
    "Title: The Hobbit; Author: J. R. R. Tolkien; Year: 1937; Genres: fantasy, adventure.",
    'Return this JSON with the price of "tea" changed to 3.5 and everything else the same:\n'
    '{"menu": [{"item": "coffee", "price": 2.8}, {"item": "tea", "price": 2.5}, '
    '{"item": "cake", "price": 4.0}]}',
    "Give a JSON object for a book order with order_id, customer (name, email), items (a list of "
    "{isbn, quantity}) and total.",
    'Add a field "active": true to each object and return the JSON array:\n'
    '[{"id": 1, "name": "north"}, {"id": 2, "name": "south"}, {"id": 3, "name": "east"}]',
    "Turn this CSV into a JSON array of objects:\ncity,country,population\n"
    "Lyon,France,522000\nPorto,Portugal,232000\nGhent,Belgium,263000",
    "Write a JSON Schema for an object with a required string `name` and an optional integer `age` >= 0.",
    'Return a JSON object mapping each weekday name ("Monday" to "Sunday") to its number 1 to 7.',
    'Fix this invalid JSON and return the corrected version:\n{"name": "Lea", "tags": ["a", "b",], '
    '"score": 10,}',
)


def _numbered(kind: str, prompts: tuple[str, ...]) -> tuple[LosslessPrompt, ...]:
    return tuple(LosslessPrompt(f"{kind}-{i + 1:02d}", kind, p) for i, p in enumerate(prompts))


# Interleaved by content type, so `--limit N` still covers all three types.
_BY_TYPE = (
    _numbered("code", CODE_PROMPTS + _MORE_CODE),
    _numbered("prose", PROSE_PROMPTS + _MORE_PROSE),
    _numbered("json", JSON_PROMPTS + _MORE_JSON),
)
LOSSLESS_PROMPTS: tuple[LosslessPrompt, ...] = tuple(
    p for row in zip(*(t[:13] for t in _BY_TYPE), strict=True) for p in row
) + tuple(p for t in _BY_TYPE for p in t[13:])

MATH_INSTRUCTION = "Solve it step by step, then end with a final line of the form 'Answer: <number>'."

_MATH = (
    (
        "A baker makes 24 muffins in the morning and 18 in the afternoon. She sells 35. How many are left?",
        "7",
    ),
    (
        "Tom has 3 boxes with 12 pencils in each. He gives away 9 pencils. How many pencils does he have?",
        "27",
    ),
    ("A train travels at 60 km per hour for 2.5 hours. How many kilometres does it travel?", "150"),
    ("Maria buys 4 notebooks at $2.50 each and a pen for $1.75. How many dollars does she spend?", "11.75"),
    ("A class has 28 students. Three quarters of them walk to school. How many students walk?", "21"),
    ("A garden is 12 metres long and 7 metres wide. What is its area in square metres?", "84"),
    ("Sam reads 15 pages a day. How many days does he need to read a 210-page book?", "14"),
    ("A shirt costs $40 and is on sale for 25% off. What is the sale price in dollars?", "30"),
    ("There are 5 rows of 16 chairs. 13 chairs are empty. How many chairs are taken?", "67"),
    ("A farmer has 45 chickens and 17 cows. How many legs do these animals have in total?", "158"),
    ("Lena saves $8 every week. How many weeks does she need to save $120?", "15"),
    ("A pizza has 8 slices. Four friends each eat 3 slices. How many whole pizzas must they order?", "2"),
    ("A water tank holds 500 litres and is 40% full. How many more litres are needed to fill it?", "300"),
    ("Jack is 3 times as old as his sister, who is 7. How old will Jack be in 5 years?", "26"),
    (
        "A bus has 42 passengers. At the first stop 15 get off and 9 get on. At the second stop 12 get "
        "off. How many passengers are on the bus now?",
        "24",
    ),
    ("A recipe needs 250 grams of flour for 10 cookies. How many grams are needed for 36 cookies?", "900"),
    ("A car uses 6 litres of fuel per 100 km. How many litres does it use on a 350 km trip?", "21"),
    (
        "Ana has 120 stickers. She gives a third to her brother and 25 to a friend. How many does she keep?",
        "55",
    ),
    ("A film lasts 2 hours and 15 minutes. How many minutes long is it?", "135"),
    ("A shop sells apples at 3 for $2. How many dollars do 18 apples cost?", "12"),
    ("Each side of a square field is 45 metres long. What is the perimeter of the field in metres?", "180"),
    (
        "A cyclist rides 18 km on Monday, 24 km on Tuesday and 30 km on Wednesday. What is the mean in km?",
        "24",
    ),
    ("Ben earns $15 an hour and works 6 hours a day for 5 days. How many dollars does he earn?", "450"),
    ("A box of 12 eggs costs $3.60. What does one egg cost in dollars?", "0.3"),
    (
        "96 marbles are shared equally by 8 children. Each child then loses 2. How many does each have?",
        "10",
    ),
    ("A rope 15 metres long is cut into pieces of 0.75 metres. How many pieces are there?", "20"),
    (
        "A school orders 7 boxes of chalk with 24 sticks each and uses 100 sticks. How many sticks are left?",
        "68",
    ),
    (
        "Mia is 142 cm tall. Her brother is 17 cm shorter than her. Their father is 51 cm taller than "
        "her brother. How tall is the father in cm?",
        "176",
    ),
    (
        "A store had 350 books. It sold 40% of them on Saturday and 50 on Sunday. How many books are left?",
        "160",
    ),
    ("A runner covers 400 metres in 80 seconds. What is her speed in metres per second?", "5"),
    ("Three friends share a bill of $87 equally. How many dollars does each pay?", "29"),
    ("A jar has 18 red beads, 24 blue beads and 30 green beads. How many beads are not blue?", "48"),
    ("A factory makes 1,250 toys a day. How many toys does it make in 6 days?", "7500"),
    (
        "The temperature was -4 degrees in the morning and rose by 11 degrees by noon. What was it at noon?",
        "7",
    ),
    (
        "A tank starts with 75 litres and loses 3 litres every hour. How many litres are left after 9 hours?",
        "48",
    ),
    (
        "Leo buys 3 shirts at $12.99 each and pays with a $50 note. How many dollars of change does he get?",
        "11.03",
    ),
    ("A rectangle has a perimeter of 30 cm and a length of 9 cm. What is its width in cm?", "6"),
    (
        "A library has 5 full shelves of 48 books. 37 books are checked out. How many are on the shelves?",
        "203",
    ),
    (
        "Nora's school is 1.2 km from home. She walks there and back each school day. How many km in 5 days?",
        "12",
    ),
    ("A pack of 6 juice bottles costs $4.20. How many dollars do 30 bottles cost?", "21"),
    ("Peter scored 72, 85 and 90 in three tests. What must he score in a fourth test to average 80?", "73"),
    (
        "A farmer plants 14 rows of 35 corn plants. A storm destroys 58 plants. How many plants survive?",
        "432",
    ),
    ("A theatre has 600 seats and 7/8 of them are sold. How many seats are empty?", "75"),
    ("A baker uses 2.5 kg of sugar a day. How many kg does she use in 3 weeks?", "52.5"),
    ("Kim has twice as many coins as Joe. Together they have 54 coins. How many coins does Kim have?", "36"),
    (
        "A phone plan is $20 a month plus $0.10 a text. Ella sends 150 texts. How many dollars is her bill?",
        "35",
    ),
    ("A tree is 3.2 metres tall and grows 0.45 metres a year. How tall is it after 4 years, in metres?", "5"),
    ("A printer prints 18 pages per minute. How many minutes does it take to print 405 pages?", "22.5"),
    (
        "Olivia has 7 bags of 9 oranges. Each glass of juice takes 4 oranges. How many full glasses?",
        "15",
    ),
    ("A parking lot has 8 rows of 25 spaces and 137 cars are parked. How many spaces are free?", "63"),
)
MATH_PROBLEMS: tuple[MathProblem, ...] = tuple(
    MathProblem(f"math-{i + 1:02d}", q, a) for i, (q, a) in enumerate(_MATH)
)


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    # additionalProperties false: an invented argument is a schema error, as a strict
    # tool implementation would treat it.
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_CODE3 = {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code, e.g. EUR"}
CURRENCY_TOOL = _tool(
    "convert_currency",
    "Convert an amount of money from one currency to another.",
    {"amount": {"type": "number", "exclusiveMinimum": 0}, "from_currency": _CODE3, "to_currency": _CODE3},
    ["amount", "from_currency", "to_currency"],
)
STOCK_TOOL = _tool(
    "get_stock_price",
    "Get the latest price of a stock by its ticker symbol.",
    {"symbol": {"type": "string", "pattern": "^[A-Z]{1,5}$"}},
    ["symbol"],
)
EMAIL_TOOL = _tool(
    "send_email",
    "Send an email.",
    {
        "to": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
        "subject": {"type": "string"},
        "body": {"type": "string"},
    },
    ["to", "subject", "body"],
)
EVENT_TOOL = _tool(
    "create_event",
    "Add an event to the user's calendar.",
    {
        "title": {"type": "string"},
        "date": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$", "description": "YYYY-MM-DD"},
        "time": {"type": "string", "pattern": "^\\d{2}:\\d{2}$", "description": "HH:MM, 24-hour"},
    },
    ["title", "date"],
)
SEARCH_TOOL = _tool(
    "search_products",
    "Search the shop's catalogue.",
    {"query": {"type": "string"}, "max_price": {"type": "number", "minimum": 0}},
    ["query"],
)
TIMER_TOOL = _tool(
    "set_timer",
    "Start a countdown timer.",
    {"minutes": {"type": "integer", "minimum": 1, "maximum": 1440}},
    ["minutes"],
)
TRANSLATE_TOOL = _tool(
    "translate_text",
    "Translate text into another language.",
    {"text": {"type": "string"}, "target_language": {"type": "string"}},
    ["text", "target_language"],
)
BOOKING_TOOL = _tool(
    "book_table",
    "Reserve a table at a restaurant.",
    {
        "restaurant": {"type": "string"},
        "people": {"type": "integer", "minimum": 1, "maximum": 20},
        "time": {"type": "string", "pattern": "^\\d{2}:\\d{2}$", "description": "HH:MM, 24-hour"},
    },
    ["restaurant", "people", "time"],
)

TOOL_TASKS: tuple[ToolTask, ...] = (
    ToolTask(
        "tool-01",
        "What's the weather in Tokyo right now, in celsius?",
        (WEATHER_TOOL, TIME_TOOL),
        "get_weather",
    ),
    ToolTask("tool-02", "What time is it in Sydney at the moment?", (WEATHER_TOOL, TIME_TOOL), "get_time"),
    ToolTask("tool-03", "Convert 250 US dollars to euros.", (CURRENCY_TOOL, STOCK_TOOL), "convert_currency"),
    ToolTask(
        "tool-04",
        "Email alex@example.com with the subject 'Lunch' and tell Alex I'll be 10 minutes late.",
        (EMAIL_TOOL, EVENT_TOOL),
        "send_email",
    ),
    ToolTask(
        "tool-05",
        "Put a meeting called 'Design review' on my calendar for 2025-03-14 at 15:00.",
        (EMAIL_TOOL, EVENT_TOOL),
        "create_event",
    ),
    ToolTask(
        "tool-06",
        "Find me running shoes that cost less than 80 dollars.",
        (SEARCH_TOOL, CURRENCY_TOOL),
        "search_products",
    ),
    ToolTask("tool-07", "Set a timer for 12 minutes.", (TIMER_TOOL, TIME_TOOL), "set_timer"),
    ToolTask(
        "tool-08",
        "Translate 'good morning, how are you?' into Spanish.",
        (TRANSLATE_TOOL, SEARCH_TOOL),
        "translate_text",
    ),
    ToolTask(
        "tool-09",
        "What is Apple's stock price? The ticker is AAPL.",
        (STOCK_TOOL, CURRENCY_TOOL),
        "get_stock_price",
    ),
    ToolTask(
        "tool-10",
        "Book a table for 4 people at Luigi's tonight at 19:30.",
        (BOOKING_TOOL, EVENT_TOOL),
        "book_table",
    ),
)
