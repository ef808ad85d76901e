"""What calls cost and how much they may: tokens, encodings, budgets, reservations, rate limits."""
