"""pmcards: spaced-repetition flashcards for AI/ML product-manager system-design interviews."""

__version__ = "0.1.0"
