"""The API's connections run prepared statements on their generic plan (store/db.py): a
money mutation's statements are not planned again on every request."""

from __future__ import annotations

from sqlalchemy import text

from adledger.store.db import make_engine


async def test_the_api_engine_plans_once_and_others_keep_the_default(database_url) -> None:
    # given the API's engine and a job's
    api = make_engine(database_url, pool_size=1, max_overflow=0, generic_plans=True)
    job = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        # when each asks its connection's plan cache mode
        async with api.connect() as connection:
            api_mode = await connection.scalar(text("SHOW plan_cache_mode"))
        async with job.connect() as connection:
            job_mode = await connection.scalar(text("SHOW plan_cache_mode"))
    finally:
        await api.dispose()
        await job.dispose()

    # then the API's forces generic plans, the job's chooses per statement
    assert (api_mode, job_mode) == ("force_generic_plan", "auto")


async def test_the_app_serves_requests_on_generic_plans(app) -> None:
    # given the app's sessions, when one asks its connection's mode
    async with app.state.adledger.sessions() as session:
        mode = await session.scalar(text("SHOW plan_cache_mode"))

    # then it is the API engine's
    assert mode == "force_generic_plan"
