"""Prompts dyno bundles: written by us, no dataset downloads.

Three content types matter for speculative decoding (acceptance is high on
code and structured output, lower on prose), so each type has its own set.
The code and JSON prompts ask the model to reproduce and extend text that is
in the prompt, which is what prompt-lookup (ngram) speculation can exploit and
what real agent traffic looks like.
"""

from __future__ import annotations

from typing import Any

CODE_PROMPTS: tuple[str, ...] = (
    "Add type hints and a docstring to this Python function and return the whole function:\n\n"
    "def moving_average(values, window):\n"
    "    if window <= 0:\n"
    "        raise ValueError('window must be positive')\n"
    "    out = []\n"
    "    total = 0\n"
    "    for i, v in enumerate(values):\n"
    "        total += v\n"
    "        if i >= window:\n"
    "            total -= values[i - window]\n"
    "        if i >= window - 1:\n"
    "            out.append(total / window)\n"
    "    return out\n",
    "Rewrite this JavaScript function with const/let instead of var and return all of it:\n\n"
    "function groupBy(items, key) {\n"
    "  var result = {};\n"
    "  for (var i = 0; i < items.length; i++) {\n"
    "    var k = items[i][key];\n"
    "    if (!result[k]) { result[k] = []; }\n"
    "    result[k].push(items[i]);\n"
    "  }\n"
    "  return result;\n"
    "}\n",
    "Write a Python class `LRUCache` with get and put methods, using an OrderedDict, and a short "
    "example of using it.",
    "Fix the bug in this function (it should return the index of target or -1) and return the fixed code:\n\n"
    "def binary_search(xs, target):\n"
    "    lo, hi = 0, len(xs)\n"
    "    while lo < hi:\n"
    "        mid = (lo + hi) // 2\n"
    "        if xs[mid] < target:\n"
    "            lo = mid\n"
    "        else:\n"
    "            hi = mid\n"
    "    return lo if xs[lo] == target else -1\n",
    "Write a SQL query that returns, for each customer in table orders(customer_id, amount, created_at), "
    "the total amount spent in 2024, sorted by total descending, then explain each clause.",
)

PROSE_PROMPTS: tuple[str, ...] = (
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain to a curious twelve-year-old why the sky is blue and sunsets are red.",
    "Describe a walk through a busy market in the early morning, using all five senses.",
    "Write a letter from a retired sailor to his granddaughter about his first voyage.",
    "Summarise the arguments for and against working from home, in a few paragraphs.",
)

JSON_PROMPTS: tuple[str, ...] = (
    "Convert this record to JSON with keys name, age, city, languages (a list):\n"
    "Name: Ada Lovelace; Age: 36; City: London; Languages: English, French, Italian.",
    "Return a JSON array of three products, each with id, name, price and tags, for a small bakery.",
    'Turn this into a JSON object with a list of steps, each {"step": n, "action": text}:\n'
    "1. Preheat the oven. 2. Mix flour and butter. 3. Add sugar and eggs. 4. Bake for 25 minutes.",
    "Give a JSON object describing a weather report for Paris: temperature_c, humidity, wind_kmh, "
    "conditions, and a forecast list of the next three days with the same fields.",
    'Produce JSON for a user profile: {"id": 1042, "name": "Mina", "email": "mina@example.com", '
    '"roles": ["editor", "viewer"], "settings": {"theme": "dark", "language": "en"}} '
    "but with id 1043, name Omar and email omar@example.com, keeping everything else.",
)

CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "code": CODE_PROMPTS,
    "prose": PROSE_PROMPTS,
    "json": JSON_PROMPTS,
}

SHORT_PROMPT = "What is the capital of France? Answer in one word."

# Filler for synthetic prompts of an exact token length: varied ordinary prose
# so a tokenizer sees normal words, not one repeated token.
FILLER = (
    "The old harbour town woke slowly. Fishing boats rocked against the pier while gulls argued over "
    "scraps, and the baker on the corner pulled the first loaves from the oven. A tram rattled past the "
    "library, where a caretaker was unlocking the heavy oak doors. Children raced toward the school "
    "with satchels bouncing, and a delivery van backed into the narrow lane beside the post office. "
    "By nine the market square was full: farmers stacked crates of apples and pears, a florist sorted "
    "tulips by colour, and a man with a violin played the same cheerful tune he had played for years. "
    "Clouds drifted in from the sea, the wind turned cold, and the church bell counted the hours. "
)

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

TOOLS = (WEATHER_TOOL, TIME_TOOL)  # what a tool-calling request offers

TOOL_TASK = "What is the weather like in Paris right now?"

# An agent session's user turns: tasks the offered tools (WEATHER_TOOL, TIME_TOOL) answer, so a model
# with tool calling on has a reason to call one, and its result a reason to answer after it.
AGENT_TASKS = (
    "What is the weather like in {city} right now?",
    "What time is it in {city}?",
    "Should I take an umbrella in {city} today? Check the weather first.",
    "I have a call with someone in {city}: is it still working hours there?",
)
AGENT_CITIES = ("Paris", "Tokyo", "Lima", "Oslo", "Nairobi", "Toronto", "Madrid", "Hanoi")
