"""The simulated shop's fixed vocabulary and distribution parameters."""

from __future__ import annotations

from lakehouse.bronze.contract import CARRIERS, CATEGORIES, CHANNELS, COUNTRIES, PAYMENT_METHODS

# Share of the catalog per category, and lognormal price parameters (median $, sigma).
CATEGORY_SHARE = dict(
    zip(CATEGORIES, (0.12, 0.18, 0.12, 0.09, 0.12, 0.08, 0.10, 0.05, 0.08, 0.06), strict=True)
)
CATEGORY_PRICE = {
    "Electronics": (180.0, 1.0),
    "Apparel": (38.0, 0.6),
    "Home & Garden": (55.0, 0.9),
    "Sports & Outdoors": (60.0, 0.9),
    "Books": (16.0, 0.4),
    "Toys & Games": (28.0, 0.7),
    "Health & Beauty": (22.0, 0.6),
    "Automotive": (75.0, 1.0),
    "Food & Beverages": (14.0, 0.5),
    "Office Supplies": (20.0, 0.8),
}
# Unit cost as a share of list price (gross margin differs by category).
CATEGORY_COST_RATIO = {
    "Electronics": 0.78,
    "Apparel": 0.45,
    "Home & Garden": 0.55,
    "Sports & Outdoors": 0.55,
    "Books": 0.6,
    "Toys & Games": 0.5,
    "Health & Beauty": 0.4,
    "Automotive": 0.62,
    "Food & Beverages": 0.65,
    "Office Supplies": 0.5,
}
CATEGORY_NOUNS = {
    "Electronics": (
        "Headphones",
        "Speaker",
        "Smartwatch",
        "Tablet",
        "Monitor",
        "Keyboard",
        "Camera",
        "Charger",
    ),
    "Apparel": ("T-Shirt", "Hoodie", "Jeans", "Jacket", "Sneakers", "Dress", "Scarf", "Socks"),
    "Home & Garden": ("Lamp", "Planter", "Cushion", "Rug", "Garden Hose", "Cookware Set", "Vase", "Blanket"),
    "Sports & Outdoors": (
        "Yoga Mat",
        "Tent",
        "Water Bottle",
        "Dumbbells",
        "Backpack",
        "Bike Helmet",
        "Running Shorts",
    ),
    "Books": ("Novel", "Cookbook", "Biography", "Field Guide", "Workbook", "Anthology", "Atlas"),
    "Toys & Games": (
        "Board Game",
        "Puzzle",
        "Building Set",
        "Plush Toy",
        "Card Game",
        "Action Figure",
        "Kite",
    ),
    "Health & Beauty": ("Moisturizer", "Shampoo", "Serum", "Toothbrush", "Lip Balm", "Sunscreen", "Vitamins"),
    "Automotive": ("Floor Mats", "Dash Cam", "Car Charger", "Wiper Blades", "Seat Cover", "Tire Inflator"),
    "Food & Beverages": ("Coffee Beans", "Green Tea", "Olive Oil", "Dark Chocolate", "Granola", "Hot Sauce"),
    "Office Supplies": (
        "Notebook",
        "Pen Set",
        "Desk Organizer",
        "Stapler",
        "Planner",
        "Sticky Notes",
        "Binder",
    ),
}
ADJECTIVES = (
    "Classic", "Premium", "Eco", "Ultra", "Compact", "Deluxe", "Essential", "Pro", "Smart", "Vintage",
    "Lightweight", "Organic", "Modern", "Rugged", "Everyday", "Signature",
)  # fmt: skip
SEARCH_TERMS = (
    "wireless headphones", "running shoes", "gift ideas", "coffee", "desk lamp", "yoga mat", "phone charger",
    "board games", "sunscreen", "backpack", "notebook", "winter jacket", "dash cam", "olive oil", "puzzle",
    "bluetooth speaker", "vitamins", "tent", "planner", "sale",
)  # fmt: skip
PAGE_TITLES = ("/", "/deals", "/new-arrivals", "/bestsellers", "/account", "/help", "/cart")
COUNTRY_WEIGHTS = dict(
    zip(
        COUNTRIES,
        (0.42, 0.1, 0.07, 0.08, 0.06, 0.05, 0.03, 0.04, 0.04, 0.02, 0.03, 0.03, 0.02, 0.01),
        strict=True,
    )
)
PAYMENT_WEIGHTS = dict(zip(PAYMENT_METHODS, (0.42, 0.18, 0.2, 0.1, 0.06, 0.04), strict=True))
CHANNEL_WEIGHTS = dict(zip(CHANNELS, (0.55, 0.32, 0.09, 0.04), strict=True))
CARRIER_WEIGHTS = dict(zip(CARRIERS, (0.25, 0.2, 0.22, 0.13, 0.15, 0.05), strict=True))
CARRIER_BASE_COST = dict(zip(CARRIERS, (9.5, 10.5, 7.0, 14.0, 6.5, 8.0), strict=True))
TRAFFIC_WEIGHTS = {
    "direct": 0.3, "organic_search": 0.28, "paid_search": 0.15, "email": 0.09, "social": 0.12, "affiliate": 0.06,
}  # fmt: skip
REFERRERS = {
    "direct": None,
    "organic_search": "https://www.google.com/",
    "paid_search": "https://www.google.com/aclk",
    "email": "https://mail.shop-newsletter.example/",
    "social": "https://www.instagram.com/",
    "affiliate": "https://deals.partner.example/",
    "app": None,
}
DEVICE_WEIGHTS = {"desktop": 0.46, "mobile": 0.45, "tablet": 0.09}
# Relative order volume by hour of day (UTC), evenings busiest.
HOUR_WEIGHTS = (
    0.9, 0.6, 0.4, 0.3, 0.3, 0.4, 0.7, 1.1, 1.5, 1.8, 2.0, 2.2,
    2.4, 2.3, 2.1, 2.0, 2.1, 2.3, 2.6, 2.9, 3.0, 2.7, 2.0, 1.4,
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me", "aol.com")
