"""help.* and other start-up questions: config pointing at our loopback DCs."""

from __future__ import annotations

import time

from pyrogram import raw

from . import rpc


@rpc(raw.functions.help.GetConfig, auth=False)
async def get_config(ctx, q):
    now = int(time.time())
    return raw.types.Config(
        date=now,
        expires=now + 3600,
        test_mode=False,
        this_dc=ctx.dc_id,
        dc_options=[raw.types.DcOption(id=dc_id, ip_address=ctx.server.host, port=port)
                    for dc_id, port in ctx.server.ports.items()],
        dc_txt_domain_name="",
        chat_size_max=200,
        megagroup_size_max=200000,
        forwarded_count_max=100,
        online_update_period_ms=210000,
        offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000,
        online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000,
        notify_default_delay_ms=1500,
        push_chat_period_ms=60000,
        push_chat_limit=2,
        edit_time_limit=172800,
        revoke_time_limit=172800,
        revoke_pm_time_limit=172800,
        rating_e_decay=2419200,
        stickers_recent_limit=200,
        channels_read_media_period=604800,
        call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000,
        call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=4,
    )


@rpc(raw.functions.help.GetNearestDc, auth=False)
async def get_nearest_dc(ctx, q):
    return raw.types.NearestDc(country="ZZ", this_dc=ctx.dc_id, nearest_dc=ctx.dc_id)


@rpc(raw.functions.help.GetAppConfig, auth=False)
async def get_app_config(ctx, q):
    def number(key, value):
        return raw.types.JsonObjectValue(key=key, value=raw.types.JsonNumber(value=float(value)))

    return raw.types.help.AppConfig(hash=1, config=raw.types.JsonObject(value=[
        number("upload_max_fileparts_default", 4000),
        number("small_queue_max_active_operations_count", 5),
        number("large_queue_max_active_operations_count", 2),
    ]))
