"""TR-181 ↔ TR-098 translation, for the adapters: it lives in the kernel's data model,
:mod:`core.kernel.datamodel.tr098` (the mapping, both directions of a path) and
:mod:`core.kernel.datamodel.tr098_view` (a TR-098 tree read as TR-181), since validation needs it before
any device is read. The names are re-exported here, where they were first imported from.
"""

from __future__ import annotations

from core.kernel.datamodel.tr098 import AP_LEAVES as AP_LEAVES
from core.kernel.datamodel.tr098 import BAND_ORDER as BAND_ORDER
from core.kernel.datamodel.tr098 import HOST_LEAVES as HOST_LEAVES
from core.kernel.datamodel.tr098 import IGD as IGD
from core.kernel.datamodel.tr098 import POOL_LEAVES as POOL_LEAVES
from core.kernel.datamodel.tr098 import RADIO_LEAVES as RADIO_LEAVES
from core.kernel.datamodel.tr098 import RADIO_READ_ONLY as RADIO_READ_ONLY
from core.kernel.datamodel.tr098 import RADIO_UNMAPPED as RADIO_UNMAPPED
from core.kernel.datamodel.tr098 import SAME_NAME_EXCEPTIONS as SAME_NAME_EXCEPTIONS
from core.kernel.datamodel.tr098 import SAME_NAME_OBJECTS as SAME_NAME_OBJECTS
from core.kernel.datamodel.tr098 import SSID_LEAVES as SSID_LEAVES
from core.kernel.datamodel.tr098 import TR181 as TR181
from core.kernel.datamodel.tr098 import VENDOR_OVERRIDES as VENDOR_OVERRIDES
from core.kernel.datamodel.tr098 import WAN_IP_LEAVES as WAN_IP_LEAVES
from core.kernel.datamodel.tr098 import WAN_PPP_LEAVES as WAN_PPP_LEAVES
from core.kernel.datamodel.tr098 import InstanceMap as InstanceMap
from core.kernel.datamodel.tr098 import Untranslatable as Untranslatable
from core.kernel.datamodel.tr098 import WanRef as WanRef
from core.kernel.datamodel.tr098 import _as_int as _as_int
from core.kernel.datamodel.tr098 import instance_map_from_params as instance_map_from_params
from core.kernel.datamodel.tr098 import to_device_paths as to_device_paths
from core.kernel.datamodel.tr098 import to_tr181 as to_tr181
from core.kernel.datamodel.tr098 import tr098_patterns as tr098_patterns
from core.kernel.datamodel.tr098 import translate_set as translate_set
from core.kernel.datamodel.tr098 import value_to_tr098 as value_to_tr098
from core.kernel.datamodel.tr098 import value_to_tr181 as value_to_tr181
from core.kernel.datamodel.tr098 import wlan_prefix as wlan_prefix
from core.kernel.datamodel.tr098_view import ViewEntry as ViewEntry
from core.kernel.datamodel.tr098_view import mode_from_tr098 as mode_from_tr098
from core.kernel.datamodel.tr098_view import select_view_paths as select_view_paths
from core.kernel.datamodel.tr098_view import tr181_view as tr181_view
