"""`hc instance up|down`: throwaway instances for CI pipelines."""
from __future__ import annotations

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


def instance_up(args, settings) -> int:
    environment = {"HC_DEMO": "1"} if args.demo else {}
    instance = ThrowawayInstance(args.image, args.name, environment)
    try:
        instance.up()
    except InstanceError as error:
        raise BadInput(str(error)) from None
    code, output = instance.exec("hc", "token", "add", "admin", "--name", "throwaway instance")
    # stdout and stderr arrive mixed: the token is the line that looks like one.
    token = next((line for line in output.split() if line.startswith("hc_")), "") \
        if code == 0 else ""
    print(f"HC_INSTANCE={instance.name}\nHC_URL={instance.url}\nHC_TOKEN={token}\n"
          f"HC_ADMIN_USER=admin\nHC_ADMIN_PASSWORD={instance.admin_password}\n"
          f"# healthy after {instance.seconds_to_healthy:.1f} s; remove with: "
          f"hc instance down {instance.name}")
    return 0


def instance_down(args, settings) -> int:
    instance = ThrowawayInstance(name=args.name)
    instance.down()
    print(f"removed {args.name}")
    return 0
