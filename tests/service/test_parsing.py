"""Table-driven tests for aiexpense.text.parsing.

Every phrase in CASES has its full expected result: a list of
(amount, currency, description, date) per expense, or NO_EXPENSE for chatter.
Amounts are compared as strings so the quantisation ("120.00", JPY "500") is
checked too. "Now" is fixed at Saturday 2026-11-28.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal

import pytest

from aiexpense.text.parsing import (
    MAX_AMOUNT,
    ParsedExpense,
    ParseResult,
    minor_unit,
    parse_conversation,
    quantize_amount,
)

NOW = dt.date(2026, 11, 28)  # a Saturday
TODAY = "2026-11-28"
YESTERDAY = "2026-11-27"

Expected = tuple[str, str, str, str]  # amount, currency, description, ISO date
NO_EXPENSE: list[Expected] = []


def e(amount: str, description: str, currency: str = "TWD", date: str = TODAY) -> Expected:
    return (amount, currency, description, date)


CASES: list[tuple[str, list[Expected]]] = [
    # --- amount after the words
    ("lunch 120", [e("120.00", "lunch")]),
    ("Lunch 120", [e("120.00", "Lunch")]),
    ("coffee 55", [e("55.00", "coffee")]),
    ("taxi 250", [e("250.00", "taxi")]),
    ("bus 15", [e("15.00", "bus")]),
    ("haircut 300", [e("300.00", "haircut")]),
    ("groceries 1,234", [e("1234.00", "groceries")]),
    ("dinner 450.5", [e("450.50", "dinner")]),
    ("coffee 4.5", [e("4.50", "coffee")]),
    ("movie tickets 600", [e("600.00", "movie tickets")]),
    ("coffee at starbucks 150", [e("150.00", "coffee at starbucks")]),
    ("Uber to airport 650", [e("650.00", "Uber to airport")]),
    ("dinner with Amy 1,500", [e("1500.00", "dinner with Amy")]),
    ("ps5 game 1990", [e("1990.00", "ps5 game")]),
    ("7-11 snacks 80", [e("80.00", "7-11 snacks")]),
    ("parking 40 at 7-11", [e("40.00", "parking at 7-11")]),
    ("Coffee: 55", [e("55.00", "Coffee")]),
    ("coffee - 55", [e("55.00", "coffee")]),
    ("🍜 120", [e("120.00", "🍜")]),
    ("lunch -120", [e("120.00", "lunch")]),
    # --- amount before the words
    ("120 lunch", [e("120.00", "lunch")]),
    ("55 coffee", [e("55.00", "coffee")]),
    ("300 haircut", [e("300.00", "haircut")]),
    ("1200 new shoes", [e("1200.00", "new shoes")]),
    ("89.9 snacks", [e("89.90", "snacks")]),
    # --- filler words around the item
    ("spent 120 on lunch", [e("120.00", "lunch")]),
    ("I spent 300 on groceries", [e("300.00", "groceries")]),
    ("paid 80 for parking", [e("80.00", "parking")]),
    ("bought a book for 350", [e("350.00", "book")]),
    ("just paid 1500 for the electricity bill", [e("1500.00", "electricity bill")]),
    ("got a haircut 400", [e("400.00", "haircut")]),
    ("lunch was 150", [e("150.00", "lunch")]),
    ("the taxi cost 270", [e("270.00", "taxi")]),
    ("my rent is 15k", [e("15000.00", "rent")]),
    ("coffee 55 thanks", [e("55.00", "coffee")]),
    ("lunch 120, thanks!", [e("120.00", "lunch")]),
    ("a coffee for 1.5 dollars", [e("1.50", "coffee", "USD")]),
    # --- currency symbols, codes and words
    ("$4.50 coffee", [e("4.50", "coffee", "USD")]),
    ("coffee $4.50", [e("4.50", "coffee", "USD")]),
    ("I paid $4.50 for coffee", [e("4.50", "coffee", "USD")]),
    ("5$ coffee", [e("5.00", "coffee", "USD")]),
    ("€3 croissant", [e("3.00", "croissant", "EUR")]),
    ("croissant €3.20", [e("3.20", "croissant", "EUR")]),
    ("coffee 4,50€", [e("4.50", "coffee", "EUR")]),
    ("wine 12,5 EUR", [e("12.50", "wine", "EUR")]),
    ("20 euros museum", [e("20.00", "museum", "EUR")]),
    ("£12 pint", [e("12.00", "pint", "GBP")]),
    ("¥500 onigiri", [e("500", "onigiri", "JPY")]),
    ("onigiri ¥500", [e("500", "onigiri", "JPY")]),
    ("ramen 1200円", [e("1200", "ramen", "JPY")]),
    ("hotel 30000 yen", [e("30000", "hotel", "JPY")]),
    ("sushi ¥1,280.5", [e("1281", "sushi", "JPY")]),
    ("₩15000 bibimbap", [e("15000", "bibimbap", "KRW")]),
    ("NT$350 dinner", [e("350.00", "dinner")]),
    ("dinner NT$ 350", [e("350.00", "dinner")]),
    ("120 TWD taxi", [e("120.00", "taxi")]),
    ("taxi 120twd", [e("120.00", "taxi")]),
    ("USD 25 book", [e("25.00", "book", "USD")]),
    ("book 25 usd", [e("25.00", "book", "USD")]),
    ("5 bucks coffee", [e("5.00", "coffee", "USD")]),
    ("HK$88 milk tea", [e("88.00", "milk tea", "HKD")]),
    ("S$12 chicken rice", [e("12.00", "chicken rice", "SGD")]),
    ("lunch 45 rmb", [e("45.00", "lunch", "CNY")]),
    ("午餐 35 人民幣", [e("35.00", "午餐", "CNY")]),
    ("伴手禮 3000日幣", [e("3000", "伴手禮", "JPY")]),
    ("訂閱 20美金", [e("20.00", "訂閱", "USD")]),
    ("$20", [e("20.00", "", "USD")]),
    ("120", [e("120.00", "")]),
    # --- 元 / 塊 mean the default currency
    ("午餐120元", [e("120.00", "午餐")]),
    ("120元 午餐", [e("120.00", "午餐")]),
    ("計程車 200塊", [e("200.00", "計程車")]),
    ("飲料 50 塊錢", [e("50.00", "飲料")]),
    ("晚餐 350 元", [e("350.00", "晚餐")]),
    ("電費 1,280 元", [e("1280.00", "電費")]),
    # --- multipliers, thousands separators, decimals
    ("rent 3.5k", [e("3500.00", "rent")]),
    ("new phone 25k", [e("25000.00", "new phone")]),
    ("2K concert ticket", [e("2000.00", "concert ticket")]),
    ("1.5k", [e("1500.00", "")]),
    ("機票 1.5萬", [e("15000.00", "機票")]),
    ("房租 2萬", [e("20000.00", "房租")]),
    ("laptop 1,200.50", [e("1200.50", "laptop")]),
    ("tv 32,999", [e("32999.00", "tv")]),
    ("house 999,999,999", [e("999999999.00", "house")]),
    # --- several items in one message
    (
        "breakfast 80, bus 30 and coffee 55",
        [e("80.00", "breakfast"), e("30.00", "bus"), e("55.00", "coffee")],
    ),
    ("lunch 120; coffee 60", [e("120.00", "lunch"), e("60.00", "coffee")]),
    ("早餐80、午餐120、晚餐200", [e("80.00", "早餐"), e("120.00", "午餐"), e("200.00", "晚餐")]),
    ("咖啡55和蛋糕80", [e("55.00", "咖啡"), e("80.00", "蛋糕")]),
    ("coffee 55 + bagel 60", [e("55.00", "coffee"), e("60.00", "bagel")]),
    ("lunch 120\ncoffee 55", [e("120.00", "lunch"), e("55.00", "coffee")]),
    (
        "breakfast 80\nlunch 120\ndinner 300",
        [e("80.00", "breakfast"), e("120.00", "lunch"), e("300.00", "dinner")],
    ),
    ("taxi 200，晚餐 350", [e("200.00", "taxi"), e("350.00", "晚餐")]),
    ("breakfast 80 bus 30", [e("80.00", "breakfast"), e("30.00", "bus")]),
    ("早餐80午餐120", [e("80.00", "早餐"), e("120.00", "午餐")]),
    ("$5 coffee, $3 bagel", [e("5.00", "coffee", "USD"), e("3.00", "bagel", "USD")]),
    ("movie 300 & popcorn 150", [e("300.00", "movie"), e("150.00", "popcorn")]),
    ("lunch 150 plus tip 20", [e("150.00", "lunch"), e("20.00", "tip")]),
    (
        "gas 1000, parking 200, toll 60",
        [e("1000.00", "gas"), e("200.00", "parking"), e("60.00", "toll")],
    ),
    ("午餐 100 還有 飲料 50", [e("100.00", "午餐"), e("50.00", "飲料")]),
    ("lunch 120. coffee 55", [e("120.00", "lunch"), e("55.00", "coffee")]),
    ("groceries 1,250, snacks 80", [e("1250.00", "groceries"), e("80.00", "snacks")]),
    ("看電影 320元 跟 爆米花 90元", [e("320.00", "看電影"), e("90.00", "爆米花")]),
    ("coffee 55元 和 蛋糕 80元", [e("55.00", "coffee"), e("80.00", "蛋糕")]),
    (
        "乘車 30，咖啡 45；晚餐 280",
        [e("30.00", "乘車"), e("45.00", "咖啡"), e("280.00", "晚餐")],
    ),
    # --- separators inside an item are not item boundaries
    ("fish and chips 200", [e("200.00", "fish and chips")]),
    ("mac and cheese 180", [e("180.00", "mac and cheese")]),
    ("salt & pepper chips 60", [e("60.00", "salt & pepper chips")]),
    ("coffee 55 and a muffin", [e("55.00", "coffee and a muffin")]),
    ("2 coffees and a bagel 180", [e("180.00", "2 coffees and a bagel")]),
    ("和牛 500", [e("500.00", "和牛")]),
    # --- English dates anywhere in the message
    ("yesterday lunch 150", [e("150.00", "lunch", date=YESTERDAY)]),
    ("lunch 150 yesterday", [e("150.00", "lunch", date=YESTERDAY)]),
    ("yday bus 30", [e("30.00", "bus", date=YESTERDAY)]),
    ("last night drinks 900", [e("900.00", "drinks", date=YESTERDAY)]),
    ("coffee 55 today", [e("55.00", "coffee")]),
    ("this morning coffee 60", [e("60.00", "coffee")]),
    ("the day before yesterday taxi 220", [e("220.00", "taxi", date="2026-11-26")]),
    ("taxi 300 3 days ago", [e("300.00", "taxi", date="2026-11-25")]),
    ("a week ago books 900", [e("900.00", "books", date="2026-11-21")]),
    ("2 weeks ago haircut 350", [e("350.00", "haircut", date="2026-11-14")]),
    ("lunch 150 last friday", [e("150.00", "lunch", date="2026-11-27")]),
    ("last saturday movie 300", [e("300.00", "movie", date="2026-11-21")]),
    ("last sat lunch 200", [e("200.00", "lunch", date="2026-11-21")]),
    ("gym 500 on monday", [e("500.00", "gym", date="2026-11-23")]),
    ("Friday dinner 700", [e("700.00", "dinner", date="2026-11-27")]),
    ("2026-11-02 dinner 500", [e("500.00", "dinner", date="2026-11-02")]),
    ("dinner 600 on 2026/10/31", [e("600.00", "dinner", date="2026-10-31")]),
    ("11/2 movie 300", [e("300.00", "movie", date="2026-11-02")]),
    ("12/25 gift 1000", [e("1000.00", "gift", date="2025-12-25")]),
    ("Nov 2 concert 2500", [e("2500.00", "concert", date="2026-11-02")]),
    ("3rd november hotel 4000", [e("4000.00", "hotel", date="2026-11-03")]),
    ("dec 31 party 2000", [e("2000.00", "party", date="2025-12-31")]),
    ("May 5 dentist 1500", [e("1500.00", "dentist", date="2026-05-05")]),
    (
        "11/27 lunch 150, 11/26 dinner 300",
        [e("150.00", "lunch", date="2026-11-27"), e("300.00", "dinner", date="2026-11-26")],
    ),
    (
        "yesterday: breakfast 80, bus 30",
        [e("80.00", "breakfast", date=YESTERDAY), e("30.00", "bus", date=YESTERDAY)],
    ),
    # --- clock times are not amounts
    ("coffee 55 at 3pm", [e("55.00", "coffee")]),
    ("lunch 120 at 12:30", [e("120.00", "lunch")]),
    ("dinner at 7pm 800", [e("800.00", "dinner")]),
    ("lunch at 12 150", [e("150.00", "lunch")]),
    ("下午3點 咖啡 80", [e("80.00", "咖啡")]),
    ("昨天下午3點 咖啡 80", [e("80.00", "咖啡", date=YESTERDAY)]),
    # --- Chinese dates
    ("昨天 午餐 120", [e("120.00", "午餐", date=YESTERDAY)]),
    ("午餐120 昨天", [e("120.00", "午餐", date=YESTERDAY)]),
    ("昨晚 宵夜 180", [e("180.00", "宵夜", date=YESTERDAY)]),
    ("前天計程車250", [e("250.00", "計程車", date="2026-11-26")]),
    ("大前天 電影 300", [e("300.00", "電影", date="2026-11-25")]),
    ("今天咖啡１２０元", [e("120.00", "咖啡")]),
    ("3天前 電影 300", [e("300.00", "電影", date="2026-11-25")]),
    ("三天前 加油 1000", [e("1000.00", "加油", date="2026-11-25")]),
    ("上週五 晚餐 600", [e("600.00", "晚餐", date="2026-11-20")]),
    ("週五 晚餐 600", [e("600.00", "晚餐", date="2026-11-27")]),
    ("上星期一 高鐵 1490", [e("1490.00", "高鐵", date="2026-11-16")]),
    ("11月2日 買書 450", [e("450.00", "買書", date="2026-11-02")]),
    ("2026年10月5日 房租 15000", [e("15000.00", "房租", date="2026-10-05")]),
    (
        "昨天午餐120、今天晚餐200",
        [e("120.00", "午餐", date=YESTERDAY), e("200.00", "晚餐")],
    ),
    # --- Chinese text, full-width digits, Chinese numerals
    ("午餐 120", [e("120.00", "午餐")]),
    ("咖啡１２０元", [e("120.00", "咖啡")]),
    ("計程車250", [e("250.00", "計程車")]),
    ("早餐\u3000６５", [e("65.00", "早餐")]),
    ("早餐 ６５ 元", [e("65.00", "早餐")]),
    ("ＮＴ＄３５０ 晚餐", [e("350.00", "晚餐")]),
    ("珍奶 65", [e("65.00", "珍奶")]),
    ("捷運 25", [e("25.00", "捷運")]),
    ("全聯 買菜 856", [e("856.00", "全聯 買菜")]),
    ("悠遊卡儲值 500", [e("500.00", "悠遊卡儲值")]),
    ("花了120買午餐", [e("120.00", "買午餐")]),
    ("我花了 300 買衣服", [e("300.00", "買衣服")]),
    ("午餐一百二十元", [e("120.00", "午餐")]),
    ("停車費 兩百塊", [e("200.00", "停車費")]),
    ("咖啡 一百塊", [e("100.00", "咖啡")]),
    ("電影票 三百五十元", [e("350.00", "電影票")]),
    # --- counts and quantities stay in the description
    ("lunch for 3 people 1200", [e("1200.00", "lunch for 3 people")]),
    ("2 coffees 110", [e("110.00", "2 coffees")]),
    ("110 for 2 coffees", [e("110.00", "2 coffees")]),
    ("咖啡2杯 110", [e("110.00", "咖啡2杯")]),
    ("3 tickets 900", [e("900.00", "3 tickets")]),
    ("movie 2 tickets 600", [e("600.00", "movie 2 tickets")]),
    ("hotel 2 nights 5000", [e("5000.00", "hotel 2 nights")]),
    ("coffee x2 120", [e("120.00", "coffee x2")]),
    ("taxi to taipei 101 350", [e("350.00", "taxi to taipei 101")]),
    # --- chatter: greetings, questions, emoji, no number
    ("hi", NO_EXPENSE),
    ("hello!", NO_EXPENSE),
    ("你好", NO_EXPENSE),
    ("早安", NO_EXPENSE),
    ("good morning", NO_EXPENSE),
    ("thanks!", NO_EXPENSE),
    ("ok 👍", NO_EXPENSE),
    ("😀😀", NO_EXPENSE),
    ("🍜🍜🍜", NO_EXPENSE),
    ("", NO_EXPENSE),
    ("how much did I spend?", NO_EXPENSE),
    ("what's my total?", NO_EXPENSE),
    ("how much did I spend this week?", NO_EXPENSE),
    ("show me my expenses", NO_EXPENSE),
    ("我今天花了多少?", NO_EXPENSE),
    ("這個月總共多少", NO_EXPENSE),
    ("午餐多少錢?", NO_EXPENSE),
    ("is 120 too much for lunch?", NO_EXPENSE),
    ("did I log lunch 120?", NO_EXPENSE),
    ("lunch 120?", NO_EXPENSE),
    # --- chatter whose only numbers are dates, times or counts
    ("meeting at 3pm", NO_EXPENSE),
    ("see you 11/2", NO_EXPENSE),
    ("see you at 7:30", NO_EXPENSE),
    ("call me at 5", NO_EXPENSE),
    ("the meeting is on 11/30", NO_EXPENSE),
    ("明天下午3點開會", NO_EXPENSE),
    ("i walked 10000 steps", NO_EXPENSE),
    ("wait 5 minutes", NO_EXPENSE),
    ("back in 2 hours", NO_EXPENSE),
    ("3 people tonight", NO_EXPENSE),
    ("I have 2 cats", NO_EXPENSE),
    ("top 10 movies", NO_EXPENSE),
    ("happy 30th birthday", NO_EXPENSE),
    ("price went up 5%", NO_EXPENSE),
    ("call 0912345678", NO_EXPENSE),
    # --- zero and absurd amounts
    ("lunch 0", NO_EXPENSE),
    ("yacht 2000000000", NO_EXPENSE),
    ("house 1,500,000,000", NO_EXPENSE),
    # --- a second batch, written after the first tuning round
    ("Starbucks latte 165", [e("165.00", "Starbucks latte")]),
    ("grabbed a sandwich for 85", [e("85.00", "sandwich")]),
    ("electricity bill 2,340", [e("2340.00", "electricity bill")]),
    ("netflix 390 monthly", [e("390.00", "netflix monthly")]),
    ("gym membership 1288/month", [e("1288.00", "gym membership")]),
    ("dinner 500/person", [e("500.00", "dinner")]),
    ("parking fee 60/hr", [e("60.00", "parking fee")]),
    ("dinner for two 1800", [e("1800.00", "dinner for two")]),
    ("phone bill NT$599", [e("599.00", "phone bill")]),
    ("2 beers 300", [e("300.00", "2 beers")]),
    ("2 coffees for 130", [e("130.00", "2 coffees")]),
    ("snacks 45 and water 20", [e("45.00", "snacks"), e("20.00", "water")]),
    ("昨天晚上吃火鍋 花了 800", [e("800.00", "吃火鍋", date=YESTERDAY)]),
    ("今天早餐 蛋餅 35", [e("35.00", "早餐 蛋餅")]),
    ("搭計程車回家 280元", [e("280.00", "搭計程車回家")]),
    ("買了一杯咖啡 60", [e("60.00", "一杯咖啡")]),
    ("加油 1200 元 昨天", [e("1200.00", "加油", date=YESTERDAY)]),
    ("高鐵 台北到台中 700", [e("700.00", "高鐵 台北到台中")]),
    ("午餐便當 95", [e("95.00", "午餐便當")]),
    ("星巴克 大杯拿鐵 155", [e("155.00", "星巴克 大杯拿鐵")]),
    ("晚上 看電影 2 張 640", [e("640.00", "晚上 看電影 2 張")]),
    ("買菜 花了 523", [e("523.00", "買菜")]),
    ("上禮拜三 牙醫 200", [e("200.00", "牙醫", date="2026-11-18")]),
    ("午餐：120", [e("120.00", "午餐")]),
    ("午餐 $120", [e("120.00", "午餐", "USD")]),  # bare $ is USD, documented
    ("午餐 120 元 晚餐 200 元", [e("120.00", "午餐"), e("200.00", "晚餐")]),
    ("早餐 45 元、捷運 30 元", [e("45.00", "早餐"), e("30.00", "捷運")]),
    ("€12.50 lunch in Paris", [e("12.50", "lunch in Paris", "EUR")]),
    ("Lunch: $12.99, Dinner: $25", [e("12.99", "Lunch", "USD"), e("25.00", "Dinner", "USD")]),
    ("Spotify $9.99", [e("9.99", "Spotify", "USD")]),
    ("10 dollars for parking", [e("10.00", "parking", "USD")]),
    ("ticket to Tokyo 12000 yen", [e("12000", "ticket to Tokyo", "JPY")]),
    ("hotel 3 nights ¥36,000", [e("36000", "hotel 3 nights", "JPY")]),
    ("lunch NT$1,250 with clients", [e("1250.00", "lunch with clients")]),
    ("paid 3000 rent", [e("3000.00", "rent")]),
    ("brunch with the girls 1,680", [e("1680.00", "brunch with the girls")]),
    ("Bought groceries at Costco for 3,245", [e("3245.00", "groceries at Costco")]),
    ("metro card top-up 500", [e("500.00", "metro card top-up")]),
    ("water bill 450 on 11/20", [e("450.00", "water bill", date="2026-11-20")]),
    ("uber 180 last tuesday", [e("180.00", "uber", date="2026-11-24")]),
    ("doctor visit 250 2 days ago", [e("250.00", "doctor visit", date="2026-11-26")]),
    ("1/15 dentist 800", [e("800.00", "dentist", date="2026-01-15")]),
    ("coffee 65 on the 20th", [e("65.00", "coffee", date="2026-11-20")]),
    ("the 30th rent 15000", [e("15000.00", "rent", date="2026-10-30")]),
    ("Train to Tainan 1,350 on Nov 20", [e("1350.00", "Train to Tainan", date="2026-11-20")]),
    ("lunch 120 TWD yesterday", [e("120.00", "lunch", date=YESTERDAY)]),
    ("rent 18,000 for December", [e("18000.00", "rent for December")]),
    (
        "Breakfast 60 Lunch 120 Dinner 250",
        [e("60.00", "Breakfast"), e("120.00", "Lunch"), e("250.00", "Dinner")],
    ),
    ("coffee 60 tea 40 cake 90", [e("60.00", "coffee"), e("40.00", "tea"), e("90.00", "cake")]),
    (
        "movie night 2 tickets 560 + popcorn 120",
        [e("560.00", "movie night 2 tickets"), e("120.00", "popcorn")],
    ),
    (
        "Dinner $45.50 yesterday + tip $9",
        [e("45.50", "Dinner", "USD", YESTERDAY), e("9.00", "tip", "USD", YESTERDAY)],
    ),
    ("taxi 200 / bus 30", [e("200.00", "taxi"), e("30.00", "bus")]),
    ("coffee, 60", [e("60.00", "coffee")]),
    ("60 - coffee", [e("60.00", "coffee")]),
    ("hello, lunch 100", [e("100.00", "lunch")]),
    ("hey! spent 50 on snacks", [e("50.00", "snacks")]),
    ("Parking 2hrs 60", [e("60.00", "Parking 2hrs")]),
    ("lunch 120 (team)", [e("120.00", "lunch (team)")]),
    ("bubble tea 55 x 2", [e("110.00", "bubble tea")]),
    ("beer 2 x 1200", [e("2400.00", "beer")]),
    ("coffee 120 ×2", [e("240.00", "coffee")]),
    ("5號 午餐 120", [e("120.00", "午餐", date="2026-11-05")]),
    ("30號 房租 15000", [e("15000.00", "房租", date="2026-10-30")]),
    ("tip 10%", NO_EXPENSE),
    ("good night 😴", NO_EXPENSE),
    ("晚安", NO_EXPENSE),
    # --- known misses (see KNOWN_MISSES)
    ("iphone 15 case 490", [e("490.00", "iphone 15 case")]),
    # --- times are not amounts (ranges, noon, 時, clock times next to the price)
    ("see you at 3pm in room 402", NO_EXPENSE),
    ("meeting 15:30-16:00", NO_EXPENSE),
    ("party 7-9pm 500", [e("500.00", "party")]),
    ("lunch 12:30 150", [e("150.00", "lunch")]),
    ("15時30分 ランチ 1200円", [e("1200", "ランチ", "JPY")]),
    ("call at 10am tomorrow", NO_EXPENSE),
    ("dinner at 8 with Amy 900", [e("900.00", "dinner with Amy")]),
    ("movie 19:40 ticket 320", [e("320.00", "movie ticket")]),
    ("午後3時 会議", NO_EXPENSE),
    ("bus at 6:45 15", [e("15.00", "bus")]),
    ("coffee 10:30am 55", [e("55.00", "coffee")]),
    ("wake up at 6", NO_EXPENSE),
    # --- room, order, flight, gate... numbers name things; a currency makes them prices
    ("flight BR 198", NO_EXPENSE),
    ("flight BR 198 lands at 6", NO_EXPENSE),
    ("room 402", NO_EXPENSE),
    ("order #12345 has shipped", NO_EXPENSE),
    ("meet at gate 12", NO_EXPENSE),
    ("platform 9", NO_EXPENSE),
    ("order no. 5512 arrived", NO_EXPENSE),
    ("seat 32 is free", NO_EXPENSE),
    ("invoice 20231101 is paid", NO_EXPENSE),
    ("ticket #4412", NO_EXPENSE),
    ("402號房", NO_EXPENSE),
    ("第3名", NO_EXPENSE),
    ("BR198 at gate 5", NO_EXPENSE),
    ("we need 3 more chairs", NO_EXPENSE),
    ("hotel room NT$3200", [e("3200.00", "hotel room")]),
    ("terminal 2 coffee 120", [e("120.00", "terminal 2 coffee")]),
    # --- amounts glued to a keyword
    ("taxi250", [e("250.00", "taxi")]),
    ("250taxi", [e("250.00", "taxi")]),
    ("coffee45", [e("45.00", "coffee")]),
    ("lunch120元", [e("120.00", "lunch")]),
    ("Taxi250", [e("250.00", "Taxi")]),
    ("dinner1200 yesterday", [e("1200.00", "dinner", date=YESTERDAY)]),
    ("breakfast80, bus30", [e("80.00", "breakfast"), e("30.00", "bus")]),
    ("uber350", [e("350.00", "uber")]),
    ("bus15", [e("15.00", "bus")]),
    ("coffee45.5", [e("45.50", "coffee")]),
    ("snacks99", [e("99.00", "snacks")]),
    ("parking60 at 7-11", [e("60.00", "parking at 7-11")]),
    ("mp3 player 900", [e("900.00", "mp3 player")]),
    # --- Chinese numerals on their own (十/百/千/萬 with 零 and 兩)
    ("計程車 兩百五", [e("250.00", "計程車")]),
    ("三千二", [e("3200.00", "")]),
    ("一百零五", [e("105.00", "")]),
    ("兩千", [e("2000.00", "")]),
    ("午餐 一百二", [e("120.00", "午餐")]),
    ("晚餐一千零五十", [e("1050.00", "晚餐")]),
    ("房租 一萬二", [e("12000.00", "房租")]),
    ("咖啡 六十五", [e("65.00", "咖啡")]),
    ("早餐 五十", [e("50.00", "早餐")]),
    ("兩萬五 機票", [e("25000.00", "機票")]),
    ("五十嵐 60", [e("60.00", "五十嵐")]),
    ("兩個人 晚餐 600", [e("600.00", "兩個人 晚餐")]),
    # --- Japanese: 円 is always JPY; a bare number is the default currency
    ("電車 230円", [e("230", "電車", "JPY")]),
    ("ランチ 1200円", [e("1200", "ランチ", "JPY")]),
    ("コーヒー 450円", [e("450", "コーヒー", "JPY")]),
    ("タクシー 2,300円", [e("2300", "タクシー", "JPY")]),
    ("三千円 本", [e("3000", "本", "JPY")]),
    ("昨日 ラーメン 980円", [e("980", "ラーメン", "JPY", YESTERDAY)]),
    ("スーパー 1500円", [e("1500", "スーパー", "JPY")]),
    ("新幹線 14,720円", [e("14720", "新幹線", "JPY")]),
    ("居酒屋 4000円 昨日", [e("4000", "居酒屋", "JPY", YESTERDAY)]),
    ("千五百円 ランチ", [e("1500", "ランチ", "JPY")]),
    ("弁当 598円", [e("598", "弁当", "JPY")]),
    ("電車 230", [e("230.00", "電車")]),
]

#: Phrases the parser is known to get wrong, with the reason. Each is xfail(strict=True),
#: so fixing one fails the suite until it is removed from here.
KNOWN_MISSES = {
    "iphone 15 case 490": (
        "a model number followed by more words and a price reads like two items "
        '("iphone 15", "case 490"), the same shape as "breakfast 80 bus 30"'
    ),
}


def _actual(text: str) -> list[Expected]:
    result = parse_conversation(text, NOW)
    return [(str(x.amount), x.currency, x.description, x.date.isoformat()) for x in result.expenses]


def _case_id(text: str) -> str:
    return text.replace("\n", "\\n") or "<empty>"


def _params() -> list[object]:
    params = []
    for text, expected in CASES:
        marks = []
        if text in KNOWN_MISSES:
            marks.append(pytest.mark.xfail(reason=KNOWN_MISSES[text], strict=True))
        params.append(pytest.param(text, expected, id=_case_id(text), marks=marks))
    return params


@pytest.mark.parametrize(("text", "expected"), _params())
def test_phrase(text: str, expected: list[Expected]) -> None:
    assert _actual(text) == expected


def test_table_is_big_and_unique() -> None:
    texts = [text for text, _ in CASES]
    assert len(texts) >= 150
    assert len(set(texts)) == len(texts), "duplicate phrases in CASES"
    assert set(KNOWN_MISSES) <= set(texts)


def test_exact_match_rate() -> None:
    hits = sum(_actual(text) == expected for text, expected in CASES)
    rate = hits / len(CASES)
    assert rate >= 0.95, f"exact-match rate {rate:.1%} ({hits}/{len(CASES)})"


# --------------------------------------------------------------------------- result shape


def test_result_types_and_truthiness() -> None:
    result = parse_conversation("lunch 120", NOW)
    assert isinstance(result, ParseResult)
    assert result
    assert result.is_expense
    (expense,) = result.expenses
    assert isinstance(expense, ParsedExpense)
    assert type(expense.amount) is Decimal
    assert isinstance(expense.date, dt.date)
    assert 0.0 <= expense.confidence <= 1.0


def test_no_expense_is_falsy_with_reason() -> None:
    assert not parse_conversation("hi", NOW)
    assert parse_conversation("hi", NOW).reason == "no_number"
    assert parse_conversation("is 120 ok for lunch?", NOW).reason == "question"
    assert parse_conversation("meeting at 3pm", NOW).reason == "no_amount"
    assert parse_conversation("hi", NOW).is_expense is False


def test_results_are_frozen() -> None:
    result = parse_conversation("lunch 120", NOW)
    with pytest.raises(AttributeError):
        result.expenses[0].amount = Decimal(1)  # type: ignore[misc]


def test_all_amounts_are_positive_decimals() -> None:
    for text, _ in CASES:
        for expense in parse_conversation(text, NOW).expenses:
            assert type(expense.amount) is Decimal, text
            assert Decimal(0) < expense.amount <= MAX_AMOUNT, text
            exponent = expense.amount.as_tuple().exponent
            assert exponent == -minor_unit(expense.currency), text


def test_bad_default_currency_is_rejected() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        parse_conversation("lunch 120", NOW, default_currency="NT$")


def test_private_use_characters_are_not_mistaken_for_markers() -> None:
    # The parser marks cut-out dates with private-use characters; user text may contain
    # some too (U+F8FF is the Apple logo).
    (expense,) = parse_conversation("\uf8ff iPad 10900, yesterday", NOW).expenses
    assert (expense.description, expense.date) == ("iPad", dt.date(2026, 11, 27))


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (dt.date.min, "lunch 120 yesterday"),
        (dt.date.min, "taxi 250 2 weeks ago"),
        (dt.date.min, "上週五 午餐 120"),
        (dt.date.min, "dinner 300 last friday"),
        (dt.date.max, "lunch 120 tomorrow"),
        (dt.date.max, "coffee 55 明天"),
    ],
)
def test_relative_dates_at_the_ends_of_the_calendar_stay_text(now: dt.date, text: str) -> None:
    # A date that would leave datetime's range is not a date: the amount is still found.
    [expense] = parse_conversation(text, now).expenses
    assert expense.date == now and expense.amount > 0


def test_datetime_now_is_accepted() -> None:
    result = parse_conversation("yesterday lunch 120", dt.datetime(2026, 11, 28, 23, 59))
    assert result.expenses[0].date == dt.date(2026, 11, 27)


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("raw", "currency", "expected"),
    [
        ("120", "TWD", "120.00"),
        ("4.5", "USD", "4.50"),
        ("4.505", "USD", "4.51"),  # half up, not banker's rounding
        ("4.504", "USD", "4.50"),
        ("500", "JPY", "500"),
        ("1280.5", "JPY", "1281"),
        ("15000.4", "KRW", "15000"),
        ("1.2345", "KWD", "1.235"),
    ],
)
def test_quantize_amount(raw: str, currency: str, expected: str) -> None:
    assert str(quantize_amount(Decimal(raw), currency)) == expected


def test_minor_units() -> None:
    assert minor_unit("JPY") == 0
    assert minor_unit("jpy") == 0
    assert minor_unit("TWD") == 2
    assert minor_unit("USD") == 2
    assert minor_unit("KWD") == 3  # same ISO table the database is seeded from
    assert minor_unit("XYZ") == 2  # unknown codes get cents


def test_parsed_amounts_are_quantised_per_currency() -> None:
    (jpy,) = parse_conversation("¥499.6 onigiri", NOW).expenses
    assert jpy.amount == Decimal(500)
    assert jpy.amount.as_tuple().exponent == 0
    (usd,) = parse_conversation("$4.999 coffee", NOW).expenses
    assert str(usd.amount) == "5.00"


def test_no_float_anywhere() -> None:
    (expense,) = parse_conversation("coffee 0.1", NOW).expenses
    assert expense.amount == Decimal("0.10")  # 0.1 as float would not compare equal to this
    assert not isinstance(expense.amount, float)


@pytest.mark.parametrize(
    "text", ["yacht 1000000001", "island 2,000,000,000", "rocket 5000000k", "$1000000000.01"]
)
def test_absurd_amounts_are_not_expenses(text: str) -> None:
    assert not parse_conversation(text, NOW)


def test_the_limit_itself_is_allowed() -> None:
    (expense,) = parse_conversation("company 1,000,000,000", NOW).expenses
    assert expense.amount == MAX_AMOUNT


def test_absurd_item_is_dropped_but_others_kept() -> None:
    result = parse_conversation("coffee 55, yacht 9999999999", NOW)
    assert [x.description for x in result.expenses] == ["coffee"]


def test_rounding_to_zero_is_not_an_expense() -> None:
    assert not parse_conversation("candy ¥0.4", NOW)


# --------------------------------------------------------------------------- full width


def test_full_width_digits_and_symbols() -> None:
    text = "咖啡１２０元，ＵＳ＄３.５０　ｂａｇｅｌ"
    assert unicodedata.normalize("NFKC", "１２０") == "120"
    result = parse_conversation(text, NOW)
    assert [(str(x.amount), x.currency, x.description) for x in result.expenses] == [
        ("120.00", "TWD", "咖啡"),
        ("3.50", "USD", "bagel"),
    ]


def test_full_width_comma_thousands() -> None:
    (expense,) = parse_conversation("筆電 ４５，９００元", NOW).expenses
    assert expense.amount == Decimal("45900.00")


# --------------------------------------------------------------------------- currency


def test_default_currency_applies_to_yuan_and_bare_numbers() -> None:
    result = parse_conversation("午餐 35元, taxi 20", NOW, default_currency="cny")
    assert [(x.currency, str(x.amount)) for x in result.expenses] == [
        ("CNY", "35.00"),
        ("CNY", "20.00"),
    ]


def test_explicit_currency_beats_default() -> None:
    (expense,) = parse_conversation("coffee $4", NOW, default_currency="EUR").expenses
    assert expense.currency == "USD"


def test_default_zero_decimal_currency() -> None:
    (expense,) = parse_conversation("ramen 980", NOW, default_currency="JPY").expenses
    assert str(expense.amount) == "980"


# --------------------------------------------------------------------------- dates


def test_month_day_rolls_back_a_year_only_when_in_the_future() -> None:
    early = dt.date(2026, 1, 5)
    assert parse_conversation("12/30 dinner 500", early).expenses[0].date == dt.date(2025, 12, 30)
    assert parse_conversation("1/5 dinner 500", early).expenses[0].date == dt.date(2026, 1, 5)


def test_invalid_dates_are_not_dates() -> None:
    (expense,) = parse_conversation("13/45 lunch 100", NOW).expenses
    assert expense.date == NOW
    assert expense.amount == Decimal("100.00")


def test_last_weekday_is_strictly_before_today() -> None:
    saturday = parse_conversation("last saturday lunch 100", NOW).expenses[0]
    assert saturday.date == dt.date(2026, 11, 21)
    today = parse_conversation("saturday lunch 100", NOW).expenses[0]
    assert today.date == NOW


# --------------------------------------------------------------------------- confidence


def test_confidence_is_lower_without_description() -> None:
    with_words = parse_conversation("lunch 120", NOW).expenses[0].confidence
    bare = parse_conversation("120", NOW).expenses[0].confidence
    assert bare < with_words


def test_confidence_is_lower_when_amount_is_guessed() -> None:
    clear = parse_conversation("taxi to taipei 350", NOW).expenses[0].confidence
    guessed = parse_conversation("taxi to taipei 101 350", NOW).expenses[0].confidence
    assert guessed < clear


def test_explicit_currency_raises_confidence() -> None:
    plain = parse_conversation("coffee 4", NOW).expenses[0].confidence
    explicit = parse_conversation("coffee $4", NOW).expenses[0].confidence
    assert plain < explicit <= 1.0
