// What a student's exercise looks like to javac: classes, an interface, an
// enum, a record, generics, lambdas, streams, a switch on strings,
// exceptions and text formatting (rootfs/java/setup.sh records the classes
// javac loads for them).
package sample;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

public class Inventory {
	public enum Kind { TOOL, FOOD, BOOK }

	public record Item(String name, Kind kind, int price) implements Priced {
		@Override
		public int cents() {
			return price * 100;
		}
	}

	public interface Priced {
		int cents();
	}

	private final List<Item> items = new ArrayList<>();
	private final Map<Kind, Integer> counts = new HashMap<>();

	public void add(String name, String kind, int price) {
		if (price < 0)
			throw new IllegalArgumentException("negative price: " + price);
		Kind k;
		switch (kind.toLowerCase()) {
		case "tool":
			k = Kind.TOOL;
			break;
		case "food":
			k = Kind.FOOD;
			break;
		default:
			k = Kind.BOOK;
		}
		items.add(new Item(name, k, price));
		counts.merge(k, 1, Integer::sum);
	}

	public int count(Kind k) {
		return counts.getOrDefault(k, 0);
	}

	public Optional<Item> cheapest() {
		return items.stream().min(Comparator.comparingInt(Item::price));
	}

	public String report() {
		StringBuilder sb = new StringBuilder();
		for (Item it : items)
			sb.append(String.format("%-8s %5d%n", it.name(), it.price()));
		return sb.toString();
	}

	public List<String> names(int maxPrice) {
		return items.stream()
			.filter(it -> it.price() <= maxPrice)
			.map(Item::name)
			.sorted()
			.collect(Collectors.toList());
	}

	public static void main(String[] args) {
		Inventory inv = new Inventory();
		inv.add("hammer", "tool", 12);
		inv.add("bread", "food", 3);
		System.out.print(inv.report());
	}
}
