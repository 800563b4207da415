"""Plain-Python reference implementations kept to check the fast ones and to time them."""
