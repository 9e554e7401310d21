"""What a money mutation costs the database, counted (issue 28): a statement more per request
is CPU every request pays. Counts, not times: they hold on any machine."""

from __future__ import annotations

from tests.api.test_transfers import funded, transfer_input  # noqa: F401  (fixture)

TRANSFER_ANSWERING_BALANCES = """
mutation($input: TransferBalanceInput!) {
  transferBalance(input: $input) {
    __typename
    ... on TransferBalanceSuccess {
      from { balance { available { amount } } }
      to { balance { available { amount } } }
    }
  }
}"""


async def test_a_transfer_answering_both_balances_costs_four_statements(
    api,
    funded,  # noqa: F811
    statements,
) -> None:
    # given a member who moved money once already (its token cached, today's activity noted)
    center, account = funded
    token = center.admin.token
    there = transfer_input(center.wallet_id, account.wallet_id, "0.01")
    await api.data(TRANSFER_ANSWERING_BALANCES, there, token)
    statements.count = 0
    statements.statements.clear()

    # when it moves 0.01 back, asking both wallets' balances
    back = transfer_input(account.wallet_id, center.wallet_id, "0.01")
    answer = (await api.data(TRANSFER_ANSWERING_BALANCES, back, token))["transferBalance"]

    # then the answer is right, and it took four statements besides BEGIN and COMMIT: both
    # wallets with the caller's role, names and waiting campaigns, and their center locked;
    # both accounts locked; the entry; and the answer's wallets with their balances and what
    # the balance guard asks of them (no alert, no recharge rule). No roles are asked before
    # it runs: whoever may move money may read the balances it answers.
    assert answer["from"]["balance"]["available"]["amount"] == "0.00"
    assert answer["to"]["balance"]["available"]["amount"] == "100.00"
    assert statements.count == 4, statements.statements
