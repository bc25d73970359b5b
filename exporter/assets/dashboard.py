def render(rules): return "{}\n"
