"""ISO 4217 currencies in circulation, with their minor units (decimal places).

Only currencies people spend: funds (BOV, CLF, COU, MXV, UYI, UYW, CHE, CHW, USN), precious
metals, SDRs and test codes are left out, as are codes withdrawn before 2024 (HRK, SLL,
ZWL, CUC). The minor units are ISO's: JPY and KRW have none, TWD and IDR have two (even
though their cash has none), the Gulf dinars have three.

Amounts are stored at their currency's exponent, so the database hands back ``1200`` yen
and ``12.50`` dollars without any conversion on read, and sums keep the right scale.
"""

from __future__ import annotations

from typing import Final

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_TWO = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR
LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD
PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR
ZMW ZWG
"""

#: Currency code -> number of decimal places ISO 4217 gives it.
MINOR_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(_TWO.split(), 2),
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
}


def minor_units(code: str) -> int | None:
    """Decimal places of ``code``, or None if it is not a currency we accept."""
    return MINOR_UNITS.get(code)
