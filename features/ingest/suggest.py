"""A `--map` to suggest when an export lacks required columns, or holds an optional one under another
name: names that differ from Spend's only in case, spaces or hyphens ("Customer ID"), or the names
popular exports use for them ("InvoiceDate", Shopify's "Created at" and "Lineitem sku", Square's
"Transaction ID", a stock report's "Qty On Hand"). Suggested, never applied: a file may hold both "Date"
and "Paid at", and which one is meant is the user's call.
"""

from __future__ import annotations

from spend.features.schema.words import plain

# Spend's name -> other names for it, written plain (lower case, words joined by "_").
SYNONYMS: dict[str, tuple[str, ...]] = {
    "order_id": (
        "invoice",
        "invoiceno",
        "invoice_no",
        "order",
        "order_number",
        "order_no",
        "transaction_id",
        "receipt",
        "receipt_no",
        "receipt_number",
        "ticket",
        "ticket_no",
        "basket_id",
        "increment_id",  # Magento's order number
        "order_ref",
    ),
    "customer_id": (
        "customer",
        "customerid",
        "client",
        "client_id",
        "email",
        "customer_email",
        "member_id",
        "user_id",
        "cust_id",
        "loyalty_id",
        "account_id",
        "billing_email",  # WooCommerce
        "buyer_email",
        "customer_no",
        "customer_number",
    ),
    "ts": (
        "invoicedate",
        "invoice_date",
        "created_at",
        "order_date",
        "timestamp",
        "datetime",
        "date_time",
        "transaction_date",
        "purchase_date",
        "sale_date",
        "date",
        "count_date",
        "stock_date",
        "inventory_date",
        "snapshot_date",
        "t_dat",  # H&M's transactions
    ),
    "product_id": (
        "sku",
        "stockcode",
        "stock_code",
        "lineitem_sku",
        "variant_sku",  # Shopify's products export
        "item_id",
        "item_code",
        "product",
        "product_code",
        "article",
        "article_id",  # H&M's
        "article_no",
        "ean",
        "barcode",
        "upc",
        "item",
        "item_nbr",
        "item_no",
        "item_number",
    ),
    "quantity": (
        *("qty", "lineitem_quantity", "units", "quantity_sold", "qty_sold", "units_sold", "unit_sales"),
        *("qty_ordered", "quantity_ordered"),  # Magento's
    ),
    "unit_price": ("price", "unitprice", "lineitem_price", "item_price", "price_each", "sale_price"),
    # Shopify's "Discount Amount" is the whole order's, on its first line: not a line's discount.
    "discount": (
        "discounts",
        "lineitem_discount",
        "line_discount",
        "item_discount",
        "discount_value",
        "discount_allocations",  # Shopify's orders API: a line's discounts, read as their total (json_rows.py)
    ),  # Square: discounts
    "order_discount": (
        *("discount_amount", "total_discounts", "order_discount_amount", "cart_discount", "cart_discount_amount"),
        *("order_discount_total", "discount_total", "total_discount_amount"),
    ),
    # WooCommerce's "Item Cost" is the item's price: not a cost.
    "unit_cost": ("cost", "cost_price", "unit_cost_price", "cost_per_item", "cogs", "purchase_price"),
    "store_id": (
        *("store", "location", "shop", "branch", "outlet"),
        *("store_code", "store_nbr", "store_no", "store_number"),
    ),
    "on_hand": (
        "onhand",
        "qty_on_hand",
        "on_hand_qty",
        "quantity_on_hand",
        "stock_on_hand",
        "soh",
        "stock",
        "in_stock",
        "stock_level",
        "available",
        "qty_available",
        "available_quantity",
        "inventory",
    ),
    "on_order": ("onorder", "qty_on_order", "on_order_qty", "quantity_on_order", "incoming", "in_transit", "open_po"),
    "lead_time_days": ("lead_time", "leadtime", "lead_days", "lead_time_in_days", "supplier_lead_time"),
    "signup_ts": ("signup_date", "created_at", "registration_date", "joined", "member_since"),
    "category": (
        "product_category",  # Shopify's products export
        "product_type",
        "type",
        "category_name",
        "item_category",
        "department",
        "dept_id",  # M5
        "cat_id",
        "family",  # Favorita's items
        "product_group",
    ),
    "substitute_group": ("substitutes", "substitute", "substitution_group", "sub_group"),
    "order_status": (
        "financial_status",  # Shopify
        "status",  # WooCommerce, Magento, Square
        "order_state",
        "payment_status",
        "state",  # Magento's sales_order (beside its status)
    ),
    "cancelled_at": ("canceled_at", "cancelled_date", "cancellation_date", "date_cancelled", "cancelled_on"),
    "kind": ("transaction_type", "line_type", "event_type", "sale_type", "record_type", "type"),
    "person_id": ("customer_unique_id", "unique_customer_id", "unique_id", "person", "master_customer_id"),
    "time_zone": ("timezone", "tz", "zone", "location_time_zone", "store_time_zone"),
    "on_promotion": ("onpromotion", "on_promo", "is_promo", "promo_flag", "promotion_flag", "is_promotion"),
    "listed_at": ("listing_date", "launch_date", "release_date", "published_at", "first_listed", "created_at"),
}


# Names of a line's (or a day's) amount, quantity x price: a unit_price only with --line-totals.
LINE_TOTALS = ("sales", "gross_sales", "net_sales", "sales_amount", "revenue", "amount", "line_total", "total")


def suggested_maps(missing: list[str], found: list[str]) -> list[tuple[str, str]]:
    """(found, Spend's name) for each missing column a found one seems to be: its own name written
    differently first, then a synonym; a found column is suggested once."""
    by_plain: dict[str, str] = {}
    for name in found:
        by_plain.setdefault(plain(name), name)
    for name in found:  # a nested export's field by its path (`customer.id`) and by its own name (`line_items.sku`)
        by_plain.setdefault(plain(name).replace(".", "_"), name)
        by_plain.setdefault(plain(name).rsplit(".", 1)[-1], name)
    pairs, used = [], set()
    if "ts" in missing and "date" in by_plain and "time" in by_plain:  # a till's date and time of day apart
        pairs.append((f"{by_plain['date']}+{by_plain['time']}", "ts"))
        used |= {by_plain["date"], by_plain["time"]}
        missing = [c for c in missing if c != "ts"]
    for column in missing:
        for candidate in (plain(column), *SYNONYMS.get(column, ())):
            name = by_plain.get(candidate)
            if name is not None and name not in used:
                pairs.append((name, column))
                used.add(name)
                break
    return pairs


def map_flags(maps: list[str]) -> str:
    """`old=new` maps as `--map` flags to paste, quoted where a name holds a space."""
    return " ".join(f"--map {m!r}" if " " in m else f"--map {m}" for m in maps)


def order_number_column(raw, missing: list[str], taken: list[tuple[str, str]]) -> str | None:
    """Shopify's orders export names its order number "Name" ("#1001"): too vague a word to suggest by
    itself (a name is a person's or a product's), but a column so named whose values are numbered with
    "#" is the order number."""
    if "order_id" not in missing or any(new == "order_id" for _, new in taken):
        return None
    used = {old for old, _ in taken}
    for name in raw.columns:
        if plain(str(name)) != "name" or name in used:
            continue
        values = raw[name].dropna().astype(str).str.strip()
        values = values[values != ""]
        if len(values) and values.str.startswith("#").mean() >= 0.9:
            return name
    return None


def line_total_column(missing: list[str], found: list[str], taken: list[tuple[str, str]]) -> str | None:
    """Where no column looks like a unit price, one that looks like the line's amount (Square's "Gross
    Sales", a daily report's "Sales"): read as a price with --line-totals."""
    if "unit_price" not in missing or any(new == "unit_price" for _, new in taken):
        return None
    used = {old for old, _ in taken}
    by_plain = {plain(name): name for name in reversed(found) if name not in used}
    return next((by_plain[t] for t in LINE_TOTALS if t in by_plain), None)
