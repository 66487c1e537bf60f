"""`hc instance up|down`: throwaway instances for CI pipelines."""
from __future__ import annotations

import time

from appliance.errors import BadInput
from appliance.throwaway import DEFAULT_IMAGE, InstanceError, ThrowawayInstance


def add_commands(commands) -> None:
    instance = commands.add_parser("instance", help="throwaway container instances (CI)") \
        .add_subparsers(dest="instance_command", required=True, metavar="ACTION")
    up = instance.add_parser("up", help="start a fresh instance, wait until healthy, print "
                             "its URL, an admin API token and admin credentials (as shell "
                             "variables: eval them, then hc run --url)")
    up.add_argument("--image", default=DEFAULT_IMAGE)
    up.add_argument("--name", help="default: hc-throwaway-<random>")
    up.add_argument("--demo", action="store_true", help="load the demo sites and templates")
    up.set_defaults(run=instance_up)
    down = instance.add_parser("down", help="remove an instance and its volume")
    down.add_argument("name")
    down.set_defaults(run=instance_down)


TOKEN_TRIES, TOKEN_PAUSE = 5, 2.0  # a token refused right after the start is asked again


def instance_up(args, settings) -> int:
    environment = {"HC_DEMO": "1"} if args.demo else {}
    instance = ThrowawayInstance(args.image, args.name, environment)
    try:
        instance.up()
    except InstanceError as error:
        raise BadInput(str(error)) from None
    try:
        token = admin_token(instance)
    except InstanceError as error:  # an instance without a token serves no pipeline
        instance.down()
        raise BadInput(str(error)) from None
    print(f"HC_INSTANCE={instance.name}\nHC_URL={instance.url}\nHC_TOKEN={token}\n"
          f"HC_ADMIN_USER=admin\nHC_ADMIN_PASSWORD={instance.admin_password}\n"
          f"# healthy after {instance.seconds_to_healthy:.1f} s; remove with: "
          f"hc instance down {instance.name}")
    return 0


def admin_token(instance, tries: int = TOKEN_TRIES, pause: float = TOKEN_PAUSE) -> str:
    """An admin API token made inside the instance; InstanceError with the command's
    own words when it cannot be made (never an empty token and success)."""
    for attempt in range(tries):
        code, output = instance.exec("hc", "token", "add", "admin", "--name",
                                     "throwaway instance")
        # stdout and stderr arrive mixed: the token is the line that looks like one.
        token = next((word for word in output.split() if word.startswith("hc_")), "")
        if code == 0 and token:
            return token
        if attempt + 1 < tries:
            time.sleep(pause)
    raise InstanceError(f"the instance started but gave no API token ({tries} tries; "
                        f"`hc token add` exited {code}): {output.strip()[-500:]}")


def instance_down(args, settings) -> int:
    instance = ThrowawayInstance(name=args.name)
    instance.down()
    print(f"removed {args.name}")
    return 0
