"""The words the synthetic shop is made of: categories with price levels, names, countries."""

from __future__ import annotations

# (category, median price, nouns used for product names and search queries)
CATEGORIES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("electronics", 180.0, ("Headphones", "Speaker", "Charger", "Smartwatch", "Camera")),
    ("computers", 650.0, ("Laptop", "Monitor", "Keyboard", "Mouse", "Router")),
    ("books", 16.0, ("Novel", "Cookbook", "Biography", "Atlas", "Comic")),
    ("home-kitchen", 45.0, ("Blender", "Kettle", "Pan Set", "Knife Block", "Toaster")),
    ("garden", 35.0, ("Hose", "Planter", "Pruner", "Lawn Chair", "Seed Kit")),
    ("toys-games", 28.0, ("Puzzle", "Board Game", "Robot Kit", "Plush Bear", "Train Set")),
    ("beauty", 22.0, ("Serum", "Lipstick", "Face Mask", "Perfume", "Hair Dryer")),
    ("sports", 55.0, ("Yoga Mat", "Dumbbells", "Tennis Racket", "Football", "Bike Helmet")),
    ("outdoor", 90.0, ("Tent", "Backpack", "Sleeping Bag", "Headlamp", "Trekking Poles")),
    ("fashion-women", 60.0, ("Dress", "Handbag", "Scarf", "Sandals", "Jacket")),
    ("fashion-men", 55.0, ("Shirt", "Sneakers", "Belt", "Chinos", "Wallet")),
    ("baby", 30.0, ("Stroller", "Bottle Set", "Onesie", "Baby Monitor", "High Chair")),
    ("pets", 25.0, ("Dog Bed", "Cat Tree", "Leash", "Pet Fountain", "Chew Toy")),
    ("grocery", 9.0, ("Coffee Beans", "Olive Oil", "Tea Box", "Granola", "Dark Chocolate")),
    ("music", 120.0, ("Guitar", "Ukulele", "Drum Pad", "Microphone", "Vinyl Record")),
    ("office", 20.0, ("Notebook", "Desk Lamp", "Pen Set", "Organizer", "Stapler")),
)
ADJECTIVES = (
    "Aurora",
    "Nordic",
    "Classic",
    "Urban",
    "Pro",
    "Eco",
    "Lumen",
    "Summit",
    "Velvet",
    "Atlas",
    "Breeze",
    "Cobalt",
    "Nova",
    "Pixel",
    "Rustic",
    "Zen",
)
FIRST_NAMES = (
    "Ava",
    "Ben",
    "Chloe",
    "Daniel",
    "Emma",
    "Felix",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Lena",
    "Liam",
    "Maya",
    "Noah",
    "Olivia",
    "Paul",
    "Rosa",
    "Sam",
    "Tara",
    "Yusuf",
    "Zoe",
    "Mateo",
)
LAST_NAMES = (
    "Smith",
    "Jones",
    "Garcia",
    "Muller",
    "Rossi",
    "Dubois",
    "Novak",
    "Kim",
    "Silva",
    "Berg",
)
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL", "CA")
COUNTRY_WEIGHTS = (0.34, 0.14, 0.12, 0.09, 0.06, 0.06, 0.06, 0.05, 0.04, 0.04)
