"""What every stage shares and nothing else: SQL quoting, atomic private writes, run locks and
values made safe for spreadsheets. core imports no other riskflag package."""
